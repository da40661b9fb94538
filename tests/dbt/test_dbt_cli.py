"""`branchops dbt ...`, `branchops sql`, `branchops demo-data`: exit codes and output."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from dbt_helpers import PROJECT, new_lakehouse

from branchops.cli import main
from branchops.dbt import DbtRunResult
from branchops.lakehouse import Lakehouse


@dataclass
class Run:
    code: int
    out: str
    err: str


def run(capsys: pytest.CaptureFixture[str], lh: Lakehouse, *args: str) -> Run:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["--config", str(lh.settings.root / "branchops.toml"), *args])
    cap = capsys.readouterr()
    return Run(int(exc.value.code or 0), cap.out, cap.err)


def test_sql_queries_a_branch(main_build: tuple[Lakehouse, DbtRunResult], capsys: pytest.CaptureFixture[str]) -> None:
    lh, _ = main_build
    r = run(capsys, lh, "sql", "--branch", "main", "-o", "json", "select count(*) as n from analytics.orders")
    assert r.code == 0 and json.loads(r.out)["rows"] == [{"n": 5000}]
    r = run(capsys, lh, "sql", "select count(*) as n from raw.customers")
    assert r.code == 0 and "500" in r.out
    r = run(capsys, lh, "sql", "select * from nowhere.nothing")
    assert r.code == 2 and "nowhere" in r.err


def test_dbt_bad_input_exits_2(
    main_build: tuple[Lakehouse, DbtRunResult], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lh, _ = main_build
    r = run(capsys, lh, "dbt", "build", "--branch", "main", "--project-dir", str(tmp_path))
    assert r.code == 2 and "no dbt_project.yml" in r.err
    r = run(capsys, lh, "dbt", "build", "--branch", "no-such-branch", "--project-dir", str(PROJECT))
    assert r.code == 2 and "no-such-branch" in r.err


def test_dbt_test_json_and_a_failing_run(
    main_build: tuple[Lakehouse, DbtRunResult], capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    lh, _ = main_build
    r = run(capsys, lh, "dbt", "test", "--branch", "main", "--project-dir", str(PROJECT), "-o", "json",
            "--select", "orders")
    assert r.code == 0, r.err
    out = json.loads(r.out)  # stdout holds only the JSON; dbt's log went to stderr
    assert out["success"] and out["tests"]["pass"] >= 4 and out["hash"] is None

    (project / "models" / "marts" / "broken.sql").write_text("select 1 as x from {{ ref('no_such_model') }}")
    before = lh.catalog.get_ref("main").hash
    r = run(capsys, lh, "dbt", "run", "--branch", "main", "--project-dir", str(project), "--select", "broken")
    assert r.code == 1
    assert "no_such_model" in r.out + r.err and "Traceback" not in r.out + r.err
    assert "main is as it was" in r.err
    assert lh.catalog.get_ref("main").hash == before


def test_demo_data_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lh = new_lakehouse(tmp_path / "demo")
    r = run(capsys, lh, "demo-data", "--scale", "0.001", "-o", "json")
    assert r.code == 0
    out = json.loads(r.out)
    assert out["rows"]["raw.orders"] == 1000 and out["rows"]["raw.customers"] == 100
    assert lh.catalog.log("main", limit=1)[0].hash == out["hash"]
    assert sorted(lh.catalog.tables("main")) == ["raw.customers", "raw.orders", "raw.payments"]
    lh.close()
