"""branchops.dbt.prewarm: dbt builds in the scratch database opened ahead, with the same results,
and opens its own whenever that database is not exactly the one it would have made."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dbt.adapters.duckdb.credentials import DuckDBCredentials
from dbt.adapters.duckdb.plugins import BasePlugin
from dbt_helpers import PROJECT, SCALE, new_lakehouse
from test_dbt_incremental import APPEND_MODEL

from branchops.dbt import DbtRunResult, build, prewarm
from branchops.dbt.scratch import write_spec
from branchops.demo import load_demo_data
from branchops.lakehouse import Lakehouse


class Spy:
    """What the prewarmed databases were asked for while a build ran."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.taken: list[bool] = []  # per take: a database was handed to dbt-duckdb
        self.own_opened = 0  # dbt-duckdb opened its own database
        self.copied: list[set[str]] = []
        take, original, copy_in = prewarm.Prewarmed.take, prewarm._original_initialize_db, prewarm.copy_in

        def spy_take(warm: prewarm.Prewarmed, spec: Path) -> Any:
            con = take(warm, spec)
            self.taken.append(con is not None)
            return con

        def spy_original(cls: Any, creds: Any, plugins: Any = None) -> Any:
            self.own_opened += 1
            return original(cls, creds, plugins)

        def spy_copy_in(con: Any, tables: Any, copy: Any) -> None:
            self.copied.append(set(copy))
            copy_in(con, tables, copy)

        monkeypatch.setattr(prewarm.Prewarmed, "take", spy_take)
        monkeypatch.setattr(prewarm, "_original_initialize_db", spy_original)
        monkeypatch.setattr(prewarm, "copy_in", spy_copy_in)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    assert prewarm.install()
    return Spy(monkeypatch)


def test_a_build_runs_in_the_prewarmed_database(main_build: tuple[Lakehouse, DbtRunResult], spy: Spy) -> None:
    lh, _ = main_build
    lh.catalog.create_branch("prewarmed", "main")
    result = build(lh, "prewarmed", PROJECT, select=["stg_orders", "orders"], dbt_output="stderr")
    assert result.success
    assert spy.taken == [True] and spy.own_opened == 0
    assert sorted(result.published) == ["analytics.orders", "analytics.stg_orders"]
    for table in result.published:  # the same rows main's full build made from the same raw data
        assert _rows(lh, "prewarmed", table) == _rows(lh, "main", table)


def test_tables_to_copy_in_are_copied_into_the_prewarmed_database(tmp_path: Path, project: Path, spy: Spy) -> None:
    (project / "models" / "marts" / "orders_append.sql").write_text(APPEND_MODEL)
    lh = new_lakehouse(tmp_path / "lh")
    try:
        load_demo_data(lh, SCALE, orders=(1, 3001))
        build(lh, "main", project, dbt_output="stderr")
        load_demo_data(lh, SCALE, orders=(3001, None), append=True)
        spy.taken.clear()
        spy.copied.clear()
        build(lh, "main", project, select=["stg_orders", "orders", "orders_append"], dbt_output="stderr")
        # the incremental model is updated in place (and a seed refuses to load into a view): their
        # tables were copied into the database dbt took
        assert spy.taken == [True] and spy.own_opened == 0
        assert spy.copied == [{"analytics.orders_append", "analytics.payment_methods"}]
        assert lh.read("analytics.orders_append").num_rows == 5000
    finally:
        lh.close()


def _rows(lh: Lakehouse, ref: str, table: str) -> list[tuple[Any, ...]]:
    arrow = lh.catalog.load_table(ref, table).scan().to_arrow()
    con = duckdb.connect()
    try:
        con.register("t", arrow)
        return con.execute("select * from t order by all").fetchall()
    finally:
        con.close()


# -- when the prewarmed database is not taken --------------------------------------------------

@pytest.fixture
def spec(tmp_path: Path, main_build: tuple[Lakehouse, DbtRunResult]) -> Path:
    lh, _ = main_build
    return write_spec(tmp_path / "scratch.json", lh.catalog.tables("main"))


@pytest.fixture
def warm(spec: Path) -> Iterator[prewarm.Prewarmed]:
    warm = prewarm.Prewarmed(spec)
    yield warm
    warm.close()


def test_the_prewarmed_database_holds_every_table_of_the_spec(warm: prewarm.Prewarmed, spec: Path) -> None:
    con = warm.take(spec)
    assert con is not None
    tables = json.loads(spec.read_text())["tables"]
    listed = con.execute("select schema_name || '.' || view_name from duckdb_views() where not internal").fetchall()
    assert sorted(t for (t,) in listed) == sorted(tables)
    assert warm.take(spec) is None  # taken once
    con.close()


def test_a_spec_that_names_other_tables_gets_a_database_of_its_own(warm: prewarm.Prewarmed, spec: Path) -> None:
    tables = json.loads(spec.read_text())["tables"]
    dropped = sorted(tables)[0]
    write_spec(spec, {t: loc for t, loc in tables.items() if t != dropped})
    assert warm.take(spec) is None
    assert warm.take(spec.with_name("other.json")) is None


def test_a_database_that_failed_to_open_is_not_taken(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "scratch.json", {"raw.orders": str(tmp_path / "no-such-metadata.json")})
    warm = prewarm.Prewarmed(spec)
    try:
        assert warm.take(spec) is None  # dbt-duckdb opens its own and reports the error there
    finally:
        warm.close()


def test_an_untaken_database_is_closed_on_the_way_out(spec: Path) -> None:
    with prewarm.ahead(spec) as warm:
        assert warm is not None and prewarm._current is warm
    assert prewarm._current is None and warm.con is None


def _creds(**kwargs: Any) -> DuckDBCredentials:
    return DuckDBCredentials(path=kwargs.pop("path", ":memory:"), schema="main", **kwargs)


def test_only_the_profile_branchops_writes_takes_it(spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRANCHOPS_TEST_SCRATCH", str(spec))
    ours = {"branchops": BasePlugin.create("branchops.dbt.plugin", config={"scratch": "env:BRANCHOPS_TEST_SCRATCH"})}
    assert prewarm._branchops_spec(_creds(), ours) == spec
    other = {"other": BasePlugin.create("branchops.dbt.plugin", config={})}
    assert prewarm._branchops_spec(_creds(), other) is None  # no spec: not a scratch database
    assert prewarm._branchops_spec(_creds(path=str(spec.with_suffix(".duckdb"))), ours) is None
    assert prewarm._branchops_spec(_creds(extensions=["httpfs"]), ours) is None
    assert prewarm._branchops_spec(_creds(config_options={"threads": 1}), ours) is None
    assert prewarm._branchops_spec(_creds(), None) is None


def test_a_dbt_duckdb_shaped_otherwise_opens_its_own(spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dbt.adapters.duckdb.environments import Environment

    monkeypatch.setattr(Environment, "initialize_db", lambda *a: None)  # not a classmethod
    assert not prewarm.install()
    with prewarm.ahead(spec) as warm:
        assert warm is None and prewarm._current is None
