"""The embedded backend's storage: its tables, the engine that reaches them, and their creation.

Pointers live in pyiceberg's / Iceberg JDBC's own ``iceberg_tables`` layout (``ice_t``, with
``ns_t`` for namespaces) with one ``catalog_name`` per ref. branchops adds its own tables: refs
(name -> head commit), commits (the DAG, with messages and properties), parents (every edge of
the DAG, merge parents too) and changes (per commit, the pointers it moved, relative to its
first parent). Timestamps are ISO-8601 UTC text with microseconds, so they sort as text.

:func:`make_engine` makes SQLite take its write lock at ``BEGIN`` (``BEGIN IMMEDIATE``) except on
connections marked :data:`READ_ONLY`, so concurrent writers serialize and readers never wait.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

from branchops.catalog.base import NO_ANCESTOR

metadata = MetaData()  # branchops' own tables
#: pyiceberg's ``SqlCatalog`` / Iceberg's JDBC catalog tables, declared here with their exact DDL
#: (a test compares it with pyiceberg's models): importing ``pyiceberg.catalog.sql`` costs ~0.35 s,
#: which every quick command (``branch list``) would pay.
jdbc_metadata = MetaData()
refs_t = Table(
    "branchops_refs",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("ref_type", String(8), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
)
commits_t = Table(
    "branchops_commits",
    metadata,
    Column("hash", String(64), primary_key=True),
    Column("parent", String(64), nullable=False),
    Column("merge_parent", String(64), nullable=True),
    Column("generation", Integer, nullable=False),
    Column("ref", String(255), nullable=False),
    Column("message", Text, nullable=False),
    Column("author", String(255), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("properties", Text, nullable=False),
)
parents_t = Table(
    "branchops_parents",
    metadata,
    Column("child", String(64), primary_key=True),
    Column("parent", String(64), primary_key=True),
)
changes_t = Table(
    "branchops_changes",
    metadata,
    Column("commit_hash", String(64), primary_key=True),
    Column("table_id", String(512), primary_key=True),
    Column("old_location", String(1000), nullable=True),
    Column("new_location", String(1000), nullable=True),
)
ice_t = Table(
    "iceberg_tables",
    jdbc_metadata,
    Column("catalog_name", String(255), nullable=False),
    Column("table_namespace", String(255), nullable=False),
    Column("table_name", String(255), nullable=False),
    Column("metadata_location", String(1000), nullable=True),
    Column("previous_metadata_location", String(1000), nullable=True),
    Column("iceberg_type", String(5), nullable=True),
    PrimaryKeyConstraint("catalog_name", "table_namespace", "table_name"),
)
ns_t = Table(
    "iceberg_namespace_properties",
    jdbc_metadata,
    Column("catalog_name", String(255), nullable=False),
    Column("namespace", String(255), nullable=False),
    Column("property_key", String(255), nullable=False),
    Column("property_value", String(1000), nullable=False),
    PrimaryKeyConstraint("catalog_name", "namespace", "property_key"),
)
READ_ONLY = "branchops_read_only"  # execution option: this connection only reads
_SCHEMA_LOCK_KEY = 0x6272616E63686F70  # "branchop": PostgreSQL advisory lock held while creating tables


def now() -> str:
    """The current time as the tables store it."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def make_engine(uri: str) -> Engine:
    """An SQLAlchemy engine; for SQLite one that takes the write lock at BEGIN."""
    url = make_url(uri)
    if url.get_backend_name() != "sqlite":
        return create_engine(uri, pool_pre_ping=True)
    memory = url.database in (None, "", ":memory:")
    if not memory and url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        uri,
        connect_args={"timeout": 120, "check_same_thread": False},
        poolclass=StaticPool if memory else None,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy issues BEGIN itself (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 120000")
        if not memory:
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front; readers do not (WAL lets them run alongside a
        # writer, each on a consistent snapshot), so reads never queue behind writes.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

    return engine


def ensure_schema(
    engine: Engine, default_branch: str, also: Callable[[Connection], None] | None = None
) -> None:
    """Create the tables that are missing, and ``default_branch`` (empty) if it is not there;
    ``also`` creates more tables in the same transaction (and under the same lock)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Processes opening a new database at once would race in CREATE TABLE (its
            # check-then-create is not atomic): one at a time; DDL is transactional there.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
        jdbc_metadata.create_all(conn)
        metadata.create_all(conn)
        if also is not None:
            also(conn)
        if conn.execute(select(refs_t.c.name).where(refs_t.c.name == default_branch)).first():
            return
        try:
            with conn.begin_nested():
                ts = now()
                conn.execute(
                    insert(refs_t).values(
                        name=default_branch, ref_type="branch", hash=NO_ANCESTOR,
                        created_at=ts, updated_at=ts,
                    )
                )
        except IntegrityError:
            pass  # another process created it first
