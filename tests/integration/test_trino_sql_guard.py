"""The second layer of the Trino read-only guard, alone, against real Trino 476: with the parser
layer (sqlglot) switched off, every writing statement still reaches only ``EXPLAIN (TYPE IO)``,
whose plan names an output table (or is no query plan at all), and is refused with exit 2;
main's hash, tables and rows stay as they were, and no table appears."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from prod_cli import write_config
from s3_server import S3Server

from branchops import sql_guard
from branchops.cli import main
from branchops.config import Settings
from branchops.engine import load_engine
from branchops.errors import UsageError
from branchops.lakehouse import Lakehouse

pytestmark = pytest.mark.integration

#: statements that write; sqlglot refuses every one of them, so none of them reaches Trino normally
WRITES = {
    "insert": "insert into raw.orders select * from raw.orders",
    "create table as": "create table raw.copy as select * from raw.orders",
    "delete": "delete from raw.orders where id = 1",
    "update": "update raw.orders set amount = 0",
    "merge": "merge into raw.orders t using (select 1 as id) s on t.id = s.id when matched then delete",
    "drop table": "drop table raw.orders",
    "create schema": "create schema raw2",
}


def state(lh: Lakehouse) -> tuple[str, dict[str, str], list[dict[str, object]]]:
    return (lh.catalog.get_ref("main").hash, lh.catalog.tables("main"),
            sorted(lh.read("raw.orders").to_pylist(), key=lambda r: str(r["id"])))


def test_the_io_plan_layer_alone_refuses_every_write(
    trino_settings: Settings, s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with Lakehouse(trino_settings) as lh:
        lh.ingest("raw.orders", pa.table({"id": [1, 2, 3], "amount": [10.0, 20.0, 30.0]}))
        before = state(lh)
    parsed: list[str] = []
    monkeypatch.setattr(sql_guard, "classify", lambda sql, _dialect: parsed.append(sql))  # layer 1 off

    with Lakehouse(trino_settings) as lh:
        engine = load_engine(trino_settings, lh.catalog)
        try:
            for kind, sql in WRITES.items():
                with pytest.raises(UsageError) as refused:
                    sql_guard.run_read_only(engine, "main", sql)
                assert refused.value.exit_code == 2, kind
                assert "plan writes a table" in refused.value.message, (kind, refused.value.message)
            ok = sql_guard.run_read_only(engine, "main", "select sum(amount) as total from raw.orders")
            assert ok.to_pylist() == [{"total": 60.0}]  # a query passes both layers
        finally:
            engine.close()
    assert parsed == [*WRITES.values(), "select sum(amount) as total from raw.orders"]  # layer 1 was bypassed

    # the same through the CLI (in this process, so that the parser layer stays off): exit 2
    config = write_config(trino_settings, tmp_path / "lh")
    for key, value in s3_server.admin.env().items():
        monkeypatch.setenv(key, value)
    for sql in (WRITES["insert"], WRITES["create table as"]):
        capsys.readouterr()
        with pytest.raises(SystemExit) as done:
            main(["-c", str(config), "sql", sql, "-o", "json"])
        out = capsys.readouterr()
        assert done.value.code == 2 and "plan writes a table" in out.out, out
        assert "Traceback" not in out.err
    with Lakehouse(trino_settings) as lh:
        assert state(lh) == before
        assert "raw.copy" not in lh.catalog.tables("main")
