"""The embedded backend's storage: its tables and their creation.

Pointers live in pyiceberg's / Iceberg JDBC's own ``iceberg_tables`` layout (``ice_t``, with
``ns_t`` for namespaces) with one ``catalog_name`` per ref. branchops adds its own tables: refs
(name -> head commit), commits (the DAG, with messages and properties), parents (every edge of
the DAG, merge parents too) and changes (per commit, the pointers it moved, relative to its
first parent). Timestamps are ISO-8601 UTC text with microseconds, so they sort as text.

Tables are declared as :class:`Table` (columns with their SQL types, a primary key) and created
with the same DDL on SQLite and PostgreSQL; the connection and transactions are
:mod:`~branchops.catalog.sql.db`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from branchops.catalog.base import NO_ANCESTOR
from branchops.catalog.sql.db import Connection, Database, IntegrityError

_SCHEMA_LOCK_KEY = 0x6272616E63686F70  # "branchop": PostgreSQL advisory lock held while creating tables


@dataclass(frozen=True)
class Table:
    """A table: ``columns`` as ``(name, SQL type and nullability)``, and its primary key."""

    name: str
    columns: tuple[tuple[str, str], ...]
    primary_key: tuple[str, ...]

    def ddl(self) -> str:
        """``CREATE TABLE`` as SQLAlchemy renders it on SQLite and PostgreSQL (byte for byte, so a
        test can hold pyiceberg's models against ours)."""
        lines = [f"\t{name} {kind}" for name, kind in self.columns]
        lines.append(f"\tPRIMARY KEY ({', '.join(self.primary_key)})")
        return f"CREATE TABLE {self.name} (\n" + ", \n".join(lines) + "\n)"



def create_missing(conn: Connection, tables: Sequence[Table]) -> list[Table]:
    """Create those of ``tables`` that do not exist (checked first: a role without the right to
    create tables opens a catalog whose tables are all there); returns the ones it created."""
    existing = conn.existing_tables([t.name for t in tables])
    missing = [t for t in tables if t.name not in existing]
    for table in missing:
        conn.execute(table.ddl())
    return missing


def define_table(name: str, *columns: tuple[str, str], key: Sequence[str]) -> Table:
    """A :class:`Table` of ``columns`` (made with :func:`column`) with primary key ``key``."""
    return Table(name, tuple(columns), tuple(key))


def column(name: str, kind: str, *, null: bool = False) -> tuple[str, str]:
    """A column of SQL type ``kind``, ``NOT NULL`` unless ``null``."""
    return name, kind if null else f"{kind} NOT NULL"


refs_t = define_table(
    "branchops_refs",
    column("name", "VARCHAR(255)"), column("ref_type", "VARCHAR(8)"), column("hash", "VARCHAR(64)"),
    column("created_at", "VARCHAR(40)"), column("updated_at", "VARCHAR(40)"),
    key=["name"],
)
commits_t = define_table(
    "branchops_commits",
    column("hash", "VARCHAR(64)"), column("parent", "VARCHAR(64)"), column("merge_parent", "VARCHAR(64)", null=True),
    column("generation", "INTEGER"), column("ref", "VARCHAR(255)"), column("message", "TEXT"),
    column("author", "VARCHAR(255)"), column("created_at", "VARCHAR(40)"), column("properties", "TEXT"),
    key=["hash"],
)
parents_t = define_table("branchops_parents", column("child", "VARCHAR(64)"), column("parent", "VARCHAR(64)"),
                   key=["child", "parent"])
changes_t = define_table(
    "branchops_changes",
    column("commit_hash", "VARCHAR(64)"), column("table_id", "VARCHAR(512)"),
    column("old_location", "VARCHAR(1000)", null=True), column("new_location", "VARCHAR(1000)", null=True),
    key=["commit_hash", "table_id"],
)
#: branchops' own tables of the commit DAG
TABLES = (changes_t, commits_t, parents_t, refs_t)
#: pyiceberg's ``SqlCatalog`` / Iceberg's JDBC catalog tables, declared here with their exact DDL
#: (a test compares it with pyiceberg's models): importing ``pyiceberg.catalog.sql`` costs ~0.35 s,
#: which every quick command (``branch list``) would pay.
ice_t = define_table(
    "iceberg_tables",
    column("catalog_name", "VARCHAR(255)"),
    column("table_namespace", "VARCHAR(255)"),
    column("table_name", "VARCHAR(255)"),
    column("metadata_location", "VARCHAR(1000)", null=True),
    column("previous_metadata_location", "VARCHAR(1000)", null=True),
    column("iceberg_type", "VARCHAR(5)", null=True),
    key=["catalog_name", "table_namespace", "table_name"],
)
ns_t = define_table(
    "iceberg_namespace_properties",
    column("catalog_name", "VARCHAR(255)"), column("namespace", "VARCHAR(255)"), column("property_key", "VARCHAR(255)"),
    column("property_value", "VARCHAR(1000)"),
    key=["catalog_name", "namespace", "property_key"],
)
JDBC_TABLES = (ns_t, ice_t)


def now() -> str:
    """The current time as the tables store it."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def schema_complete(db: Database, default_branch: str, more: Sequence[Table] = ()) -> bool:
    """Whether every table (``more`` too) and ``default_branch`` exist: a read that takes no write
    lock, so opening a catalog that is ready never waits for a writer (SQLite's file lock, the
    PostgreSQL advisory lock) nor takes one."""
    names = [t.name for t in (*JDBC_TABLES, *TABLES, *more)]
    with db.transaction(read_only=True) as conn:
        if len(conn.existing_tables(names)) < len(set(names)):
            return False
        return conn.first("SELECT name FROM branchops_refs WHERE name = :name", {"name": default_branch}) is not None


def ensure_schema(db: Database, default_branch: str, also: Callable[[Connection], None] | None = None,
                  more: Sequence[Table] = ()) -> None:
    """Create the tables that are missing, and ``default_branch`` (empty) if it is not there;
    ``also`` creates more tables (``more``) in the same transaction (and under the same lock).
    A catalog where all of it exists is only read (:func:`schema_complete`)."""
    if schema_complete(db, default_branch, more):
        return
    with db.transaction() as conn:
        if db.SCHEMA_LOCK is not None:
            conn.execute(db.SCHEMA_LOCK, {"key": _SCHEMA_LOCK_KEY})
        create_missing(conn, (*JDBC_TABLES, *TABLES))
        if also is not None:
            also(conn)
        if conn.first("SELECT name FROM branchops_refs WHERE name = :name", {"name": default_branch}):
            return
        try:
            with conn.savepoint():
                ts = now()
                conn.insert(refs_t.name, [{"name": default_branch, "ref_type": "branch", "hash": NO_ANCESTOR,
                                           "created_at": ts, "updated_at": ts}])
        except IntegrityError:
            pass  # another process created it first
