"""`branchops pr ...` and `branchops gc` as subprocesses: JSON outputs, exit codes, crash/re-run
(kill -9 in the middle of a merge) and concurrent merges."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from helpers import TOKEN, PointerDiffer, TableBuilder, rows

from branchops.config import load_settings
from branchops.lakehouse import Lakehouse
from branchops.pr import PullRequests, Reporter
from branchops.pr.model import MERGE_OP
from branchops.project_init import init_project

BRANCHOPS = [sys.executable, "-m", "branchops"]
SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for var in ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(var, raising=False)
    init_project(tmp_path / "lh")
    monkeypatch.setenv("BRANCHOPS_CONFIG", str(tmp_path / "lh" / "branchops.toml"))
    monkeypatch.setenv("BRANCHOPS_GC_RETENTION", "0s")
    with open_lh() as lh:
        lh.ingest("raw.orders", rows(10))
    yield tmp_path / "lh"


def open_lh() -> Lakehouse:
    return Lakehouse(load_settings())


def validate(pr: int, table: str, n: int = 3, sha: str = SHA) -> None:
    """A passed validation of ``pr`` whose build wrote ``table`` (done in-process, no dbt)."""
    with open_lh() as lh:
        PullRequests(lh, Reporter(None, echo=lambda _t: None, env={}),
                     builder=TableBuilder({table: rows(n, pr)}), differ=PointerDiffer()).sync(pr, sha, Path("."))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BRANCHOPS, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def as_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.stdout.strip(), proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def merges_of(lh: Lakehouse, pr: int) -> list[str]:
    return [c.hash for c in lh.catalog.log("main") if c.properties.get("branchops.operation") == MERGE_OP
            and c.properties.get("branchops.pr") == str(pr)]


def test_status_merge_close_and_gc_through_the_cli(project: Path, tmp_path: Path) -> None:
    validate(1, "mart.one")
    st = as_json(run("pr", "status", "--pr", "1", "-o", "json"))
    assert st["status"] == "passed" and st["changed_tables"] == ["mart.one"]
    refused = run("pr", "merge", "--pr", "1", "--sha", "f" * 40, "-o", "json")
    assert refused.returncode == 1 and as_json(refused)["status"] == "refused"
    out_file = tmp_path / "gh_output"
    merged = run("pr", "merge", "--pr", "1", "--sha", SHA, "-o", "json", env={"GITHUB_OUTPUT": str(out_file)})
    assert merged.returncode == 0, merged.stderr
    data = as_json(merged)
    assert data["status"] == "merged" and data["merge"]["previous_hash"]
    assert "status=merged" in out_file.read_text()
    assert run("pr", "close", "--pr", "1").returncode == 0  # gone already: fine
    gc = run("gc", "--older-than", "0s", "-o", "json")
    assert gc.returncode == 0 and as_json(gc)["bytes_freed"] >= 0
    bad = run("gc", "--older-than", "soon")
    assert bad.returncode == 2 and "bad duration" in bad.stderr


def test_token_never_printed(project: Path) -> None:
    validate(2, "mart.two")
    env = {"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": "octo-org/analytics", "GITHUB_API_URL": "http://127.0.0.1:9"}
    proc = run("pr", "merge", "--pr", "2", "--sha", SHA, "--require-approval", env=env)
    assert proc.returncode == 1 and "GitHub API" in proc.stderr
    assert TOKEN not in proc.stdout + proc.stderr
    proc = run("--debug", "pr", "merge", "--pr", "2", "--sha", SHA, "--require-approval", "-o", "json", env=env)
    assert TOKEN not in proc.stdout + proc.stderr


def test_kill_9_during_merge_leaves_main_old_or_new_and_rerun_finishes(project: Path) -> None:
    delays = [0.3, 0.6, 0.9, 1.2, 1.5, 1.8, 2.2, 2.6]
    for i, delay in enumerate(delays, start=10):
        table = f"mart.t{i}"
        validate(i, table)
        with open_lh() as lh:
            old = lh.catalog.tables("main")
        proc = subprocess.Popen([*BRANCHOPS, "pr", "merge", "--pr", str(i), "--sha", SHA],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with open_lh() as lh:
            now = lh.catalog.tables("main")
            assert now == old or (set(now) == set(old) | {table}), f"main between states after kill at {delay}s"
        rerun = run("pr", "merge", "--pr", str(i), "--sha", SHA, "-o", "json")
        assert rerun.returncode == 0, rerun.stderr
        assert as_json(rerun)["status"] in ("merged", "already_merged")
        with open_lh() as lh:
            assert table in lh.catalog.tables("main") and len(merges_of(lh, i)) == 1
            assert lh.read(table).num_rows == 3
            assert f"pr-{i}" not in [r.name for r in lh.catalog.list_refs()]


def _merge(pr: int, *extra: str) -> tuple[int, dict[str, Any]]:
    proc = run("pr", "merge", "--pr", str(pr), "--sha", SHA, "-o", "json", *extra)
    return proc.returncode, as_json(proc)


def test_two_concurrent_merges_of_the_same_pr_merge_once(project: Path) -> None:
    validate(20, "mart.same")
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: _merge(20), range(2)))
    assert sorted(r[1]["status"] for r in results) == ["already_merged", "merged"]
    assert all(code == 0 for code, _ in results)
    with open_lh() as lh:
        assert len(merges_of(lh, 20)) == 1


def test_concurrent_merges_of_disjoint_prs_both_land(project: Path) -> None:
    validate(21, "mart.a")
    validate(22, "mart.b")
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(_merge, (21, 22)))
    assert [r[1]["status"] for r in results] == ["merged", "merged"]
    with open_lh() as lh:
        tables = lh.catalog.tables("main")
        assert {"mart.a", "mart.b"} <= set(tables) and lh.read("raw.orders").num_rows == 10


def test_concurrent_merges_of_the_same_table_one_wins_one_conflicts(project: Path) -> None:
    validate(23, "mart.hot", n=3)
    validate(24, "mart.hot", n=5)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(_merge, (23, 24)))
    statuses = sorted(r[1]["status"] for r in results)
    assert statuses == ["conflict", "merged"]
    loser = next(r[1] for r in results if r[1]["status"] == "conflict")
    assert loser["conflicts"] == ["mart.hot"]
    winner = next(r[1] for r in results if r[1]["status"] == "merged")
    with open_lh() as lh:
        assert lh.read("mart.hot").num_rows == (3 if winner["pr"] == 23 else 5)
