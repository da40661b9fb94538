"""The embedded backend's pointer rows: each ref's tables in Iceberg JDBC's ``iceberg_tables``.

A ref's rows (``catalog_name`` = the ref's name) mirror the tables of its head commit, so any
engine with an Iceberg JDBC catalog reads a branch by naming it. The backend changes them in the
same transaction as the ref; these functions only read and write the rows on a Connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, bindparam, delete, insert, select, text, tuple_, update

from branchops.catalog.base import validate_table_id
from branchops.catalog.sql_schema import ice_t, ns_t

_MAX_KEYS_IN_QUERY = 500  # more table keys than this: read all rows (bind parameter limits)


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
