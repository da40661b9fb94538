"""`branchops sql` writes nothing: every kind of write attempt is refused with exit 2, and main's
hash, tables and every warehouse file's bytes stay as they were; no file appears anywhere."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from reliability_helpers import CliRun, clean_refusal, open_lh, warehouse_digest

from branchops.errors import UsageError
from branchops.sql_guard import classify, io_plan_writes


def a_data_file(root: Path) -> str:
    return str(next((root / ".branchops" / "warehouse" / "raw").rglob("*.parquet")))


WRITES = {
    "copy over a data file of main": "copy (select 1 as id, 2 as amount) to '{data}' (format parquet)",
    "copy to a new file": "copy (select 1) to '{tmp}/out.csv'",
    "copy into the warehouse": "copy (select 1) to '{warehouse}/raw/x.parquet' (format parquet)",
    "create table": "create table t as select * from raw.orders",
    "create view": "create view v as select 1",
    "create schema": "create schema s",
    "insert": "insert into raw.orders values (1, 2)",
    "update": "update raw.orders set amount = 0",
    "delete": "delete from raw.orders",
    "drop view": "drop view raw.orders",
    "alter": "alter view raw.orders rename to x",
    "attach": "attach '{tmp}/x.duckdb' as x",
    "detach": "detach memory",
    "install": "install httpfs",
    "load": "load httpfs",
    "set": "set enable_external_access = true",
    "reset": "reset lock_configuration",
    "use": "use memory",
    "export": "export database '{tmp}/exp'",
    "checkpoint": "checkpoint",
    "call": "call pragma_version()",
    "transaction": "begin transaction",
    "two statements": "select 1; copy (select 1) to '{tmp}/two.csv'",
    "a read outside the ref": "select * from read_csv('{tmp}/outside.csv')",
    "glob outside the ref": "select * from glob('/etc/*')",
    "write through a pragma": "pragma enable_profiling='json'",
    "profile output to a file": "set profiling_output = '{tmp}/profile.json'",
}


@pytest.mark.parametrize("kind", sorted(WRITES))
def test_write_attempts_are_refused_and_change_nothing(
    kind: str, shared_project: Path, cli: CliRun, tmp_path: Path, counts: Counter[str]
) -> None:
    project = shared_project
    (tmp_path / "outside.csv").write_text("a\n1\n")
    warehouse = project / ".branchops" / "warehouse"
    sql = WRITES[kind].format(data=a_data_file(project), tmp=tmp_path, warehouse=warehouse)
    with open_lh() as lh:
        before = (lh.catalog.get_ref("main").hash, lh.catalog.tables("main"), lh.read("raw.orders").to_pylist())
    files_before, outside_before = warehouse_digest(project), sorted(tmp_path.rglob("*"))
    for args in (("sql", sql), ("sql", "--branch", "feat", sql, "-o", "json")):
        res = cli(*args)
        counts["sql write attempts refused"] += clean_refusal(res)
        counts["sql write attempts tried"] += 1
        assert clean_refusal(res), (kind, res)
    with open_lh() as lh:
        after = (lh.catalog.get_ref("main").hash, lh.catalog.tables("main"), lh.read("raw.orders").to_pylist())
    assert after == before
    assert warehouse_digest(project) == files_before, "a warehouse file changed"
    assert sorted(tmp_path.rglob("*")) == outside_before, "a file was written"


def test_queries_still_run(shared_project: Path, cli: CliRun) -> None:
    for sql, expect in [("select count(*) as n from raw.orders", 20),
                        ("with o as (select * from raw.orders) select count(*) as n from o", 20),
                        ("select count(*) as n from raw.orders union all select 0 as n order by n desc limit 1", 20)]:
        res = cli("sql", sql, "-o", "json")
        assert res.code == 0, res.err
        assert res.json()["rows"][0]["n"] == expect
    res = cli("sql", "--branch", "feat", "select count(*) as n from raw.orders", "-o", "json")
    assert res.json()["rows"][0]["n"] == 23


@pytest.mark.parametrize("sql", [
    "insert into t select 1", "create table t as select 1", "delete from t", "update t set a = 1",
    "merge into t using s on t.a = s.a when matched then delete", "drop table t", "alter table t add column b int",
    "call system.sync_partition_metadata('a', 'b', 'FULL')", "set session a = 1", "use x.y", "grant select on t to u",
    "select * into t from s", "select 1; select 2", "truncate table t", "comment on table t is 'x'",
    "explain analyze insert into t select 1", "prepare p from select 1", "execute p", "analyze t",
])
def test_trino_statements_that_are_not_queries_are_refused(sql: str) -> None:
    with pytest.raises(UsageError):
        classify(sql, "trino")


def test_trino_queries_pass_and_the_io_plan_decides() -> None:
    for sql in ["select 1", "with a as (select 1 x) select x from a", "select * from raw.orders union select * from t",
                "values (1, 2)", "table raw.orders"]:
        classify(sql, "trino")
    assert not io_plan_writes('{"inputTableColumnInfos": [], "outputTable": null}')
    assert io_plan_writes('{"inputTableColumnInfos": [], "outputTable": {"catalog": "c"}}')
    assert io_plan_writes("CREATE SCHEMA s")
