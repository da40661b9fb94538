"""Promises of the embedded SQL backend beyond the shared contract (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def test_opening_a_ready_catalog_waits_for_no_writer(sql_settings: Settings) -> None:
    """A catalog whose tables and default branch exist opens with reads only: a writer that holds
    SQLite's write lock (or PostgreSQL's schema lock) does not hold up a reader's ``branch list``."""
    uri = sql_settings.catalog_url
    SqlVersionedCatalog(uri, warehouse=str(sql_settings.root)).close()  # creates the tables
    if uri.startswith("sqlite"):
        import sqlite3

        holder: Any = sqlite3.connect(uri.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # a writer in the middle of a commit
    else:
        import psycopg2

        from branchops.catalog.sql.schema import _SCHEMA_LOCK_KEY

        holder = psycopg2.connect(uri.replace("postgresql+psycopg2://", "postgresql://"))
        holder.autocommit = True
        holder.cursor().execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK_KEY,))
    refs: list[str] = []

    def reader() -> None:
        cat = SqlVersionedCatalog(uri, warehouse=str(sql_settings.root))
        try:
            refs.extend(r.name for r in cat.list_refs())
        finally:
            cat.close()

    t = threading.Thread(target=reader)
    t.start()
    t.join(timeout=10)
    opened = not t.is_alive()
    holder.close()  # lets a blocked reader go on either way
    t.join()
    assert opened, "opening the catalog waited for the writer's lock"
    assert refs == ["main"]
