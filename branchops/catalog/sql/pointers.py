"""The embedded backend's Iceberg JDBC rows: published refs' tables in ``iceberg_tables``.

A **published** ref (listed in ``branchops_jdbc_refs``) has rows (``catalog_name`` = the ref's
name) that mirror the tables of its head commit, so any engine with an Iceberg JDBC catalog reads
it by naming it. The backend keeps them in step in the same transaction as the ref, at the cost
of the pointers each write moves; publishing a ref writes one row per table, so only refs that
ask for it pay that (the default branch, refs matching ``jdbc_refs``, or an explicit publish).
branchops itself never reads these rows: a ref's tables come from its commits
(:mod:`~branchops.catalog.sql.states`). These functions only read and write rows on a Connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from branchops.catalog.base import validate_table_id
from branchops.catalog.sql.db import Connection
from branchops.catalog.sql.schema import column, create_missing, define_table, ice_t, ns_t

_MAX_KEYS_IN_QUERY = 500  # more table keys than this: read all rows (bind parameter limits)

jdbc_refs_t = define_table("branchops_jdbc_refs", column("name", "VARCHAR(255)"), key=["name"])


def ensure_jdbc_schema(conn: Connection, default_branch: str) -> None:
    """Create the registry of published refs when missing.

    Catalogs made before it existed kept rows for every ref: those refs stay published (their
    rows are current). A new catalog publishes its default branch (empty so far).
    """
    if not create_missing(conn, [jdbc_refs_t]):
        return
    names = {r[0] for r in conn.execute("SELECT name FROM branchops_refs")} | {default_branch}
    conn.insert(jdbc_refs_t.name, [{"name": n} for n in sorted(names)])


def is_published(conn: Connection, ref: str) -> bool:
    return conn.first("SELECT name FROM branchops_jdbc_refs WHERE name = :ref", {"ref": ref}) is not None


def published(conn: Connection) -> list[str]:
    return [str(r[0]) for r in conn.execute("SELECT name FROM branchops_jdbc_refs ORDER BY name")]


def publish(conn: Connection, ref: str, tables: Mapping[str, str]) -> None:
    """Write ``ref``'s rows afresh from ``tables`` and keep them in step from now on."""
    drop_rows(conn, ref)
    set_rows(conn, ref, tables, {})
    if not is_published(conn, ref):
        conn.insert(jdbc_refs_t.name, [{"name": ref}])


def unpublish(conn: Connection, ref: str) -> None:
    """Remove ``ref``'s rows; it is no longer kept in step."""
    drop_rows(conn, ref)
    conn.execute("DELETE FROM branchops_jdbc_refs WHERE name = :ref", {"ref": ref})


def rows(conn: Connection, ref: str, only: Iterable[str] | None = None) -> dict[str, str]:
    """``ref``'s pointer rows; with ``only``, just those tables (a commit of a few tables to a
    branch of thousands reads a few rows, not thousands)."""
    sql = "SELECT table_namespace, table_name, metadata_location FROM iceberg_tables WHERE catalog_name = :ref"
    params: dict[str, object] = {"ref": ref}
    wanted = None if only is None else set(only)
    if wanted is not None and len(wanted) <= _MAX_KEYS_IN_QUERY:
        if not wanted:
            return {}
        params["keys"] = sorted(validate_table_id(t) for t in wanted)
        sql += " AND (table_namespace, table_name) IN :keys"
    found = {f"{ns}.{name}": str(location) for ns, name, location in conn.execute(sql, params)}
    return found if wanted is None else {t: loc for t, loc in found.items() if t in wanted}


def set_rows(conn: Connection, ref: str, changes: Mapping[str, str | None], current: Mapping[str, str]) -> None:
    """Make ``ref``'s pointer rows follow ``changes``: one batched statement per kind of
    change (a merge of 100 tables, or the fork of a 1,000-table commit, is a few round trips)."""
    deletes: list[dict[str, str]] = []
    updates: list[dict[str, str]] = []
    inserts: list[dict[str, str | None]] = []
    new_namespaces: set[str] = set()
    for table, location in changes.items():
        ns, name = validate_table_id(table)
        if location is None:
            deletes.append({"ref": ref, "ns": ns, "name": name})
        elif table in current:
            updates.append({"ref": ref, "ns": ns, "name": name, "loc": location, "prev": current[table]})
        else:
            inserts.append({
                "catalog_name": ref, "table_namespace": ns, "table_name": name, "metadata_location": location,
                "previous_metadata_location": None, "iceberg_type": "TABLE",
            })
            new_namespaces.add(ns)
    key = "catalog_name = :ref AND table_namespace = :ns AND table_name = :name"
    conn.execute_many(f"DELETE FROM iceberg_tables WHERE {key}", deletes)
    conn.execute_many(
        f"UPDATE iceberg_tables SET metadata_location = :loc, previous_metadata_location = :prev WHERE {key}", updates
    )
    conn.insert(ice_t.name, inserts)
    if new_namespaces:
        known = conn.execute(
            "SELECT namespace FROM iceberg_namespace_properties WHERE catalog_name = :ref AND namespace IN :names",
            {"ref": ref, "names": sorted(new_namespaces)},
        )
        missing = new_namespaces - {r[0] for r in known}
        if missing:
            conn.insert(ns_t.name, [
                {"catalog_name": ref, "namespace": ns, "property_key": "exists", "property_value": "true"}
                for ns in sorted(missing)
            ])


def copy_rows(conn: Connection, source: str, name: str) -> None:
    """Zero-copy fork: give ref ``name`` duplicates of ``source``'s rows, inside ``conn``'s transaction."""
    for table in (ice_t, ns_t):
        cols = ", ".join(c for c, _ in table.columns[1:])  # all but catalog_name, the first
        conn.execute(
            f"INSERT INTO {table.name} (catalog_name, {cols}) SELECT :name, {cols} FROM {table.name} "
            "WHERE catalog_name = :source",
            {"name": name, "source": source},
        )


def drop_rows(conn: Connection, ref: str) -> None:
    """Remove every row of ``ref``."""
    conn.execute("DELETE FROM iceberg_tables WHERE catalog_name = :ref", {"ref": ref})
    conn.execute("DELETE FROM iceberg_namespace_properties WHERE catalog_name = :ref", {"ref": ref})
