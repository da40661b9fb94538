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

from sqlalchemy import (
    Column,
    Connection,
    MetaData,
    String,
    Table,
    bindparam,
    delete,
    insert,
    inspect,
    select,
    text,
    tuple_,
    update,
)

from branchops.catalog.base import validate_table_id
from branchops.catalog.sql.schema import ice_t, ns_t, refs_t

_MAX_KEYS_IN_QUERY = 500  # more table keys than this: read all rows (bind parameter limits)

jdbc_metadata = MetaData()
jdbc_refs_t = Table("branchops_jdbc_refs", jdbc_metadata, Column("name", String(255), primary_key=True))


def ensure_jdbc_schema(conn: Connection, default_branch: str) -> None:
    """Create the registry of published refs when missing.

    Catalogs made before it existed kept rows for every ref: those refs stay published (their
    rows are current). A new catalog publishes its default branch (empty so far).
    """
    if inspect(conn).has_table(jdbc_refs_t.name):
        return
    jdbc_metadata.create_all(conn)
    names = {r.name for r in conn.execute(select(refs_t.c.name))} | {default_branch}
    conn.execute(insert(jdbc_refs_t), [{"name": n} for n in sorted(names)])


def is_published(conn: Connection, ref: str) -> bool:
    return conn.execute(select(jdbc_refs_t.c.name).where(jdbc_refs_t.c.name == ref)).first() is not None


def published(conn: Connection) -> list[str]:
    return [r.name for r in conn.execute(select(jdbc_refs_t.c.name).order_by(jdbc_refs_t.c.name))]


def publish(conn: Connection, ref: str, tables: Mapping[str, str]) -> None:
    """Write ``ref``'s rows afresh from ``tables`` and keep them in step from now on."""
    drop_rows(conn, ref)
    set_rows(conn, ref, tables, {})
    if not is_published(conn, ref):
        conn.execute(insert(jdbc_refs_t).values(name=ref))


def unpublish(conn: Connection, ref: str) -> None:
    """Remove ``ref``'s rows; it is no longer kept in step."""
    drop_rows(conn, ref)
    conn.execute(delete(jdbc_refs_t).where(jdbc_refs_t.c.name == ref))


def rows(conn: Connection, ref: str, only: Iterable[str] | None = None) -> dict[str, str]:
    """``ref``'s pointer rows; with ``only``, just those tables (a commit of a few tables to a
    branch of thousands reads a few rows, not thousands)."""
    q = select(ice_t.c.table_namespace, ice_t.c.table_name, ice_t.c.metadata_location).where(
        ice_t.c.catalog_name == ref
    )
    wanted = None if only is None else set(only)
    if wanted is not None and len(wanted) <= _MAX_KEYS_IN_QUERY:
        if not wanted:
            return {}
        keys = sorted(validate_table_id(t) for t in wanted)
        q = q.where(tuple_(ice_t.c.table_namespace, ice_t.c.table_name).in_(keys))
    found = {f"{ns}.{name}": str(location) for ns, name, location in conn.execute(q)}
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
            deletes.append({"b_ns": ns, "b_name": name})
        elif table in current:
            updates.append({"b_ns": ns, "b_name": name, "b_loc": location, "b_prev": current[table]})
        else:
            inserts.append({
                "catalog_name": ref, "table_namespace": ns, "table_name": name, "metadata_location": location,
                "previous_metadata_location": None, "iceberg_type": "TABLE",
            })
            new_namespaces.add(ns)
    key = (
        (ice_t.c.catalog_name == ref)
        & (ice_t.c.table_namespace == bindparam("b_ns"))
        & (ice_t.c.table_name == bindparam("b_name"))
    )
    if deletes:
        conn.execute(delete(ice_t).where(key), deletes)
    if updates:
        stmt = update(ice_t).where(key).values(
            metadata_location=bindparam("b_loc"), previous_metadata_location=bindparam("b_prev")
        )
        conn.execute(stmt, updates)
    if inserts:
        conn.execute(insert(ice_t), inserts)
    if new_namespaces:
        known = select(ns_t.c.namespace).where(
            ns_t.c.catalog_name == ref, ns_t.c.namespace.in_(sorted(new_namespaces))
        )
        missing = new_namespaces - {r.namespace for r in conn.execute(known)}
        if missing:
            conn.execute(insert(ns_t), [
                {"catalog_name": ref, "namespace": ns, "property_key": "exists", "property_value": "true"}
                for ns in sorted(missing)
            ])


def copy_rows(conn: Connection, source: str, name: str) -> None:
    """Zero-copy fork: give ref ``name`` duplicates of ``source``'s rows, inside ``conn``'s transaction."""
    cols = [ice_t.c.table_namespace, ice_t.c.table_name, ice_t.c.metadata_location,
            ice_t.c.previous_metadata_location, ice_t.c.iceberg_type]
    src = select(text(":n").bindparams(n=name), *cols).where(ice_t.c.catalog_name == source)
    conn.execute(insert(ice_t).from_select(["catalog_name", *[c.name for c in cols]], src))
    nsrc = select(text(":n").bindparams(n=name), ns_t.c.namespace, ns_t.c.property_key,
                  ns_t.c.property_value).where(ns_t.c.catalog_name == source)
    conn.execute(insert(ns_t).from_select(
        ["catalog_name", "namespace", "property_key", "property_value"], nsrc))


def drop_rows(conn: Connection, ref: str) -> None:
    """Remove every row of ``ref``."""
    conn.execute(delete(ice_t).where(ice_t.c.catalog_name == ref))
    conn.execute(delete(ns_t).where(ns_t.c.catalog_name == ref))
