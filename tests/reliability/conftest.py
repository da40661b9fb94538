"""Fixtures of the reliability suite: a small lakehouse, the CLI run in-process, and the counts
the suite reports at the end of a run (bad inputs tried / refused cleanly, writers x commits,
kill points, gc/writer races)."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from reliability_helpers import CliRun, seed_project

#: filled by the tests, printed by ``pytest_terminal_summary``
COUNTS: Counter[str] = Counter()


@pytest.fixture
def counts() -> Counter[str]:
    return COUNTS


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A lakehouse with main holding raw.orders and raw.customers, and a branch ``feat``; the
    current folder and BRANCHOPS_CONFIG point at it."""
    root = seed_project(tmp_path / "lh", monkeypatch)
    monkeypatch.chdir(root)
    yield root


@pytest.fixture(scope="module")
def shared_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """:func:`project`, once per module (for tests that must change nothing in it)."""
    with pytest.MonkeyPatch.context() as mp:
        root = seed_project(tmp_path_factory.mktemp("shared") / "lh", mp)
        mp.chdir(root)
        yield root


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> CliRun:
    return CliRun(capsys)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if COUNTS:
        terminalreporter.write_sep("-", "reliability counts")
        for key in sorted(COUNTS):
            terminalreporter.write_line(f"{key}: {COUNTS[key]}")
