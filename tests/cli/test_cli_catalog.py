"""The catalog commands as a user and a CI script meet them: exit codes, JSON shapes, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

CliRunner = Any


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_init_twice_is_refused_and_changes_nothing(cli: CliRunner, tmp_path: Path) -> None:
    assert cli("init").code == 0
    before = (tmp_path / "branchops.toml").read_text()
    r = cli("init")
    assert r.code == 2
    assert "already exists" in r.err
    assert (tmp_path / "branchops.toml").read_text() == before


def test_missing_config_is_a_usage_error(cli: CliRunner) -> None:
    r = cli("branch", "list")
    assert r.code == 2
    assert "branchops init" in r.err
    assert "Traceback" not in r.err + r.out


def test_branch_json_shapes(cli: CliRunner, tmp_path: Path) -> None:
    cli("init")
    orders = _csv(tmp_path / "o.csv", "id,amount\n1,2.5\n2,3.5\n")
    ing = cli("-o", "json", "ingest", "raw.orders", orders)
    assert ing.code == 0 and ing.json()["rows"] == 2 and ing.json()["created"] is True

    created = cli("branch", "create", "feat", "--output", "json").json()
    assert set(created) == {"name", "hash", "type"} and created["type"] == "branch"

    listed = cli("branch", "list", "-o", "json").json()
    assert [r["name"] for r in listed] == ["feat", "main"]
    assert all(set(r) == {"name", "hash", "type"} for r in listed)

    shown = cli("branch", "show", "feat", "-o", "json").json()
    assert set(shown) == {"name", "hash", "tables"}
    assert shown["tables"] == cli("branch", "show", "main", "-o", "json").json()["tables"]
    assert list(shown["tables"]) == ["raw.orders"]
    assert shown["tables"]["raw.orders"].endswith(".metadata.json")

    cli("ingest", "raw.orders", orders, "--branch", "feat")
    log = cli("branch", "log", "feat", "-o", "json").json()
    assert len(log) == 2
    assert {"hash", "parent", "message", "author", "timestamp", "properties", "changes"} <= set(log[0])
    assert log[0]["parent"] == log[1]["hash"]  # newest first
    assert log[0]["changes"][0]["table"] == "raw.orders"

    merged = cli("branch", "merge", "feat", "--into", "main", "-o", "json").json()
    assert {"source", "target", "hash", "merged_tables"} <= set(merged)
    assert merged["merged_tables"] == ["raw.orders"]
    assert cli("branch", "show", "main", "-o", "json").json()["hash"] == merged["hash"]


def test_merge_conflict_exits_1_names_tables_and_writes_nothing(cli: CliRunner, tmp_path: Path) -> None:
    cli("init")
    f = _csv(tmp_path / "o.csv", "id\n1\n")
    cli("ingest", "raw.a", f)
    cli("ingest", "raw.b", f)
    cli("branch", "create", "feat")
    for branch in ("feat", "main"):
        cli("ingest", "raw.a", f, "--branch", branch)
    cli("ingest", "raw.b", f, "--branch", "feat")
    main_before = cli("branch", "show", "main", "-o", "json").json()

    dry = cli("branch", "merge", "feat", "--dry-run", "-o", "json")
    assert dry.code == 1 and dry.json()["conflicts"] == ["raw.a"]
    r = cli("branch", "merge", "feat", "--into", "main", "-o", "json")
    assert r.code == 1
    assert r.json()["conflicts"] == ["raw.a"]
    assert "raw.a" in r.err
    assert cli("branch", "show", "main", "-o", "json").json() == main_before


def test_bad_input_exits_2_and_changes_nothing(cli: CliRunner, tmp_path: Path) -> None:
    cli("init")
    cli("ingest", "raw.t", _csv(tmp_path / "ok.csv", "id,amount\n1,2.5\n"))
    before = cli("branch", "show", "main", "-o", "json").json()
    cases = {
        "ragged": _csv(tmp_path / "ragged.csv", "id,amount\n1\n"),
        "unparsable": _csv(tmp_path / "bad.csv", "id,amount\n1,abc\n"),
        "new column": _csv(tmp_path / "wide.csv", "id,amount,extra\n1,2.0,x\n"),
        "missing": tmp_path / "nope.csv",
        "unknown format": _csv(tmp_path / "x.txt", "hello"),
    }
    for what, path in cases.items():
        r = cli("ingest", "raw.t", path)
        assert r.code == 2, what
        assert "Traceback" not in r.err, what
        assert "unchanged" in r.err, what
    for args in (
        ["branch", "create", "bad..name"],
        ["branch", "create", "-lead"],
        ["branch", "show", "nope"],
        ["ingest", "raw.t", tmp_path / "ok.csv", "--branch", "nope"],
        ["ingest", "t", tmp_path / "ok.csv"],
    ):
        assert cli(*args).code == 2, args
    assert cli("branch", "show", "main", "-o", "json").json() == before
    assert [r["name"] for r in cli("branch", "list", "-o", "json").json()] == ["main"]


def test_evolve_overwrite_and_formats(cli: CliRunner, tmp_path: Path) -> None:
    cli("init")
    cli("ingest", "raw.t", _csv(tmp_path / "a.csv", "id,amount\n1,2.5\n"))
    r = cli(
        "-o", "json", "ingest", "raw.t", _csv(tmp_path / "w.csv", "id,amount,note\n2,1.0,hi\n"), "--evolve"
    )
    assert r.code == 0 and r.json()["evolved_columns"] == ["note"]
    pq.write_table(pa.table({"id": [7, 8], "amount": [1.0, 2.0]}), tmp_path / "p.parquet")
    assert cli("ingest", "raw.t", tmp_path / "p.parquet", "--mode", "overwrite").code == 0
    (tmp_path / "j.jsonl").write_text('{"id": 9, "amount": 4.0, "note": "x"}\n')
    assert cli("ingest", "raw.t", tmp_path / "j.jsonl").code == 0

    import branchops

    with branchops.connect(tmp_path / "branchops.toml") as lh:
        rows = sorted(lh.read("raw.t").to_pylist(), key=lambda r: r["id"])
    assert rows == [
        {"id": 7, "amount": 1.0, "note": None},
        {"id": 8, "amount": 2.0, "note": None},
        {"id": 9, "amount": 4.0, "note": "x"},
    ]


def test_protected_main_cannot_be_dropped(cli: CliRunner) -> None:
    cli("init")
    r = cli("branch", "drop", "main")
    assert r.code == 1 and "protected" in r.err
    assert [x["name"] for x in cli("branch", "list", "-o", "json").json()] == ["main"]


def test_reset_rolls_back_as_a_new_commit(cli: CliRunner, tmp_path: Path) -> None:
    cli("init")
    cli("ingest", "raw.t", _csv(tmp_path / "a.csv", "id\n1\n"))
    first = cli("branch", "show", "main", "-o", "json").json()
    cli("ingest", "raw.t", _csv(tmp_path / "b.csv", "id\n2\n"))
    r = cli("branch", "reset", "main", "--to", first["hash"], "-o", "json")
    assert r.code == 0
    now = cli("branch", "show", "main", "-o", "json").json()
    assert now["tables"] == first["tables"] and now["hash"] != first["hash"]
    assert len(cli("branch", "log", "main", "-o", "json").json()) == 3


def test_environment_overrides_file(cli: CliRunner, tmp_path: Path, monkeypatch: object) -> None:
    import os

    cli("init")
    os.environ["BRANCHOPS_MAIN_BRANCH"] = "prod"
    os.environ["BRANCHOPS_PROTECTED"] = "prod,main"
    try:
        listed = cli("branch", "list", "-o", "json").json()
        assert "prod" in [r["name"] for r in listed]
        assert cli("branch", "drop", "prod").code == 1
    finally:
        del os.environ["BRANCHOPS_MAIN_BRANCH"], os.environ["BRANCHOPS_PROTECTED"]


def test_quickstart_tells_the_whole_pr_story(cli: CliRunner, tmp_path: Path) -> None:
    r = cli("quickstart", "--dir", tmp_path / "qs", "-o", "json")
    assert r.code == 0, r.err
    steps = {s["step"]: s for s in r.json()["steps"]}
    opened, merged = steps["pr_open"], steps["pr_merge"]
    assert opened["status"] == "passed"
    assert opened["changed_tables"] == ["analytics.customer_segments"]
    assert merged["status"] == "merged"
    # main now shows exactly what the PR branch showed, and it differs from before
    assert merged["segments_after"] == merged["segments_on_branch"] != merged["segments_before"]
    assert merged["segments_after"]["gold"] > merged["segments_before"]["gold"]
    assert sum(merged["segments_after"].values()) == sum(merged["segments_before"].values())
