"""Promises of the embedded SQL backend beyond the shared contract (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from branchops.catalog.sql.backend import SqlVersionedCatalog
from branchops.config import Settings
from branchops.lakehouse import Lakehouse


@pytest.fixture(params=["sqlite", "postgres"])
def sql_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    if request.param == "sqlite":
        yield Settings(root=tmp_path, catalog_uri=f"sqlite:///{tmp_path}/catalog.db")
    else:
        yield Settings(root=tmp_path, catalog_uri=request.getfixturevalue("postgres_url"))


def test_a_branch_is_readable_by_a_plain_iceberg_sql_catalog(sql_settings: Settings) -> None:
    """Published refs' rows use Iceberg's JDBC / pyiceberg SqlCatalog layout with catalog_name = branch
    (main is published by default, ``feat`` through the ``jdbc_refs`` setting)."""
    sql_settings = sql_settings.replace(jdbc_refs=["main", "fe*"])
    with Lakehouse(sql_settings) as lh:
        lh.ingest("raw.orders", pa.table({"id": [1, 2]}))
        lh.catalog.create_branch("feat")
        lh.ingest("raw.orders", pa.table({"id": [3]}), branch="feat")
    for branch, ids in (("main", [1, 2]), ("feat", [1, 2, 3])):
        plain = SqlCatalog(branch, uri=sql_settings.catalog_url, warehouse=sql_settings.warehouse_location)
        try:
            assert plain.list_tables("raw") == [("raw", "orders")]
            assert sorted(plain.load_table("raw.orders").scan().to_arrow().column("id").to_pylist()) == ids
        finally:
            plain.engine.dispose()


def test_sqlite_readers_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/catalog.db"
    writer = SqlVersionedCatalog(uri, warehouse=str(tmp_path))
    reader = SqlVersionedCatalog(uri, warehouse=str(tmp_path))
    try:
        writer.commit("main", {"raw.a": "file:///a/v0.metadata.json"}, "seed")
        done = threading.Event()
        with writer.db.transaction():  # holds SQLite's write lock until the block ends
            start = time.monotonic()

            def read() -> None:
                reader.tables("main"), reader.log("main"), reader.list_refs()
                done.set()

            threading.Thread(target=read, daemon=True).start()
            assert done.wait(10), "a read waited for the write lock"
            assert time.monotonic() - start < 10
        assert reader.tables("main") == {"raw.a": "file:///a/v0.metadata.json"}
    finally:
        writer.close()
        reader.close()


def test_jdbc_tables_have_pyiceberg_s_exact_layout() -> None:
    """branchops declares pyiceberg's SqlCatalog tables itself (a cheap import); the DDL must stay
    identical to pyiceberg's, so any Iceberg JDBC/SqlCatalog engine keeps reading a branch."""
    from pyiceberg.catalog.sql import IcebergNamespaceProperties, IcebergTables
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.schema import CreateTable

    from branchops.catalog.sql.schema import ice_t, ns_t

    for ours, theirs in ((ice_t, IcebergTables.__table__), (ns_t, IcebergNamespaceProperties.__table__)):
        for dialect in (sqlite.dialect(), postgresql.dialect()):
            assert ours.ddl() == str(CreateTable(theirs).compile(dialect=dialect)).strip()
