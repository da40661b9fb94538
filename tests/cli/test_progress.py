"""Progress lines: on a terminal's stderr only; never with ``--output json`` or without a TTY."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from branchops import progress
from branchops.project_init import init_project
from tests.cli.conftest import CliRunner

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
STEPS = ["[1/3] ingest: reading", "[2/3] ingest: writing 3 rows to raw.t on main", "[3/3] ingest: publishing to main"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    init_project(tmp_path)
    (tmp_path / "t.csv").write_text("id,name\n1,a\n2,b\n3,c\n")
    return tmp_path


def run_on_terminal(project: Path, *args: str) -> tuple[int, str, str]:
    """``branchops ARGS`` in a child whose stderr is a pseudo-terminal; stdout is a pipe."""
    controller, terminal = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRANCHOPS_")}
    with subprocess.Popen([sys.executable, "-m", "branchops", "-c", str(project / "branchops.toml"), *args],
                          cwd=project, env=env, stdout=subprocess.PIPE, stderr=terminal,
                          stdin=subprocess.DEVNULL) as proc:
        os.close(terminal)
        chunks: list[bytes] = []
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        out = proc.stdout.read().decode() if proc.stdout else ""
        code = proc.wait(timeout=300)
    os.close(controller)
    return code, out, ANSI.sub("", b"".join(chunks).decode()).replace("\r\n", "\n")


def progress_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("[")]


def test_a_terminal_sees_each_step(project: Path) -> None:
    code, out, err = run_on_terminal(project, "ingest", "raw.t", str(project / "t.csv"))
    assert code == 0, err
    lines = progress_lines(err)
    assert len(lines) == 3 and all(line.startswith(step) for line, step in zip(lines, STEPS, strict=True)), err
    assert "Created raw.t on main: 3 rows" in out and "[1/3]" not in out


def test_json_output_on_a_terminal_is_pure_json_and_quiet(project: Path) -> None:
    code, out, err = run_on_terminal(project, "ingest", "raw.t", str(project / "t.csv"), "--output", "json")
    assert code == 0, err
    assert json.loads(out)["rows"] == 3  # stdout is one JSON document, nothing else
    assert progress_lines(err) == []


def test_no_terminal_no_progress(project: Path, cli: CliRunner) -> None:
    text = cli("-c", project / "branchops.toml", "ingest", "raw.t", project / "t.csv")
    assert text.code == 0 and "ingest:" not in text.err and "[1/3]" not in text.out + text.err
    as_json = cli("-c", project / "branchops.toml", "ingest", "raw.t", project / "t.csv", "-o", "json")
    assert as_json.code == 0 and as_json.json()["rows"] == 3 and as_json.err == ""


def test_steps_reach_only_the_installed_sink() -> None:
    seen: list[str] = []
    progress.step(1, 2, "before")  # no sink: nothing happens
    with progress.showing(seen.append):
        assert progress.active()
        progress.step(1, 2, "first")
        progress.step(None, None, "uncounted")
    progress.step(2, 2, "after")
    assert seen == ["[1/2] first", "uncounted"] and not progress.active()


def test_a_diff_shows_one_step_per_table_that_moved(project: Path) -> None:
    from branchops.config import load_settings
    from branchops.diff import diff_refs
    from branchops.lakehouse import Lakehouse

    with Lakehouse(load_settings(project / "branchops.toml")) as lh:
        for name in ("raw.a", "raw.b", "raw.c"):
            lh.ingest(name, project / "t.csv")
        lh.catalog.create_branch("dev", "main")
        lh.ingest("raw.a", project / "t.csv", branch="dev")  # appended: 3 more rows
        lh.ingest("raw.c", project / "t.csv", branch="dev", mode="overwrite")  # a new snapshot, the same rows
        seen: list[str] = []
        with progress.showing(seen.append):
            result = diff_refs(lh, "main", "dev")
    # raw.b did not move, so it is not diffed and gets no line
    assert seen == ["[1/2] diff: raw.a", "[2/2] diff: raw.c"]
    rows = {t.table: t.rows for t in result.tables}
    assert sorted(rows) == ["raw.a", "raw.c"]
    assert rows["raw.a"] is not None and (rows["raw.a"].added, rows["raw.a"].removed) == (3, 0)
    assert rows["raw.c"] is not None and (rows["raw.c"].added, rows["raw.c"].removed) == (0, 0)
