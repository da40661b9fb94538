"""The scratch DuckDB database one dbt invocation builds into: dbt-duckdb's in-memory database.

Every table of the ref appears in it as the view ``ns.table`` over ``iceberg_scan`` of that
table's metadata location: ``source('raw', 'orders')`` reads the ref's ``raw.orders`` and an
unselected upstream model is read from the ref's own table (zero-copy). Seeds and the tables of
selected incremental models and snapshots are copied in as real tables, because dbt updates
those in place (``is_incremental()`` then sees the ref's current rows).

In memory rather than a file: dbt-duckdb's outputs are read once more, to be published as
Parquet, and never need DuckDB's own storage (measured ~30% faster to build, ~40% to publish).
The branchops dbt-duckdb plugin (``branchops.dbt.plugin``) creates the views when dbt opens the
database; after dbt, :func:`dbt_connection` hands the same database to the publisher.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import duckdb

from branchops.catalog.base import validate_table_id
from branchops.engine.duckdb import load_iceberg
from branchops.sql_text import quote, sql_string


def relation_name(table: str) -> str:
    ns, name = validate_table_id(table)
    return f"{quote(ns)}.{quote(name)}"


def write_spec(path: Path, tables: Mapping[str, str], copy: Iterable[str] = ()) -> Path:
    """What the plugin puts in the scratch database: ``{"tables": {table: location}, "copy": [...]}``."""
    path.write_text(json.dumps({"tables": dict(tables), "copy": sorted(set(copy) & set(tables))}))
    return path


def populate(con: duckdb.DuckDBPyConnection, spec_path: str | Path) -> None:
    """Create a schema per namespace and a view (or, for ``copy``, a table) per table."""
    fill(con, json.loads(Path(spec_path).read_text()))


def fill(con: duckdb.DuckDBPyConnection, spec: Mapping[str, Any]) -> None:
    """:func:`populate` from the spec's content."""
    load_iceberg(con)
    tables: dict[str, str] = spec["tables"]
    copy = set(spec.get("copy", []))
    for ns in sorted({validate_table_id(t)[0] for t in tables}):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(ns)}")
    for table, location in sorted(tables.items()):
        kind = "TABLE" if table in copy else "VIEW"
        con.execute(f"CREATE {kind} {relation_name(table)} AS SELECT * FROM iceberg_scan({sql_string(location)})")


def copy_in(con: duckdb.DuckDBPyConnection, tables: Mapping[str, str], copy: Iterable[str]) -> None:
    """Turn the views of ``copy`` into real tables in a database :func:`populate` filled with views."""
    for table in sorted(set(copy) & set(tables)):
        rel = relation_name(table)
        con.execute(f"DROP VIEW {rel}")
        con.execute(f"CREATE TABLE {rel} AS SELECT * FROM iceberg_scan({sql_string(tables[table])})")


def dbt_connection() -> duckdb.DuckDBPyConnection | None:
    """A cursor on the database the last dbt invocation built into (None if it opened none)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    env = DuckDBConnectionManager._ENV
    conn = getattr(env, "conn", None)
    return None if conn is None else conn.cursor()


def close_dbt_connections() -> None:
    """Release dbt-duckdb's database (kept in a class attribute between invocations)."""
    if "dbt.adapters.duckdb.connections" not in sys.modules:
        return  # dbt-duckdb has not run in this process: nothing to release (and no import of it here)
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    env = DuckDBConnectionManager._ENV
    if env is not None and hasattr(env, "close"):
        env.close()
    DuckDBConnectionManager.close_all_connections()  # type: ignore[no-untyped-call]
