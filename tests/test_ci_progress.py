"""ci/services/progress.sh: how fetching a test server shows progress (issue 16). On a terminal a
ticking line per artifact, then its files, size and time; off a terminal one summary line; a
failed step stops the ticking line and fails the script."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

PROGRESS = Path(__file__).resolve().parents[1] / "ci" / "services" / "progress.sh"
#: a fake artifact: 3,000,000 bytes in one file, fetched in a bit more than a second
FETCH = ('progress_begin fake.sh; progress_fetch "org.example:server:1:jar" out '
         'sh -c "sleep 1.3; mkdir -p out; head -c 3000000 /dev/zero > out/server.jar"; ')
SUMMARY = r"fake\.sh: fetched the fake server: 1 file\(s\), 3\.0 MB in \d+ s\n"


def run(script: str, cwd: Path, progress: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``script`` after sourcing progress.sh; stdout and stderr as text with every ``\\r`` kept."""
    env = {k: v for k, v in os.environ.items() if k != "BRANCHOPS_PROGRESS"}
    if progress is not None:
        env["BRANCHOPS_PROGRESS"] = progress
    # the scripts' own setup: strict mode, and the EXIT trap that stops a ticking line
    setup = f'set -euo pipefail; . "{PROGRESS}"; trap "progress_stop abort" EXIT; '
    # a ticker left behind would hold stderr open: the run would not return
    done = subprocess.run(["bash", "-c", setup + script], cwd=cwd, env=env, capture_output=True, timeout=30,
                          check=False)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())


def test_off_a_terminal_only_one_summary_line(tmp_path: Path) -> None:
    done = run(FETCH + 'progress_end "the fake server"', tmp_path)
    assert done.returncode == 0 and done.stdout == ""
    assert re.fullmatch(SUMMARY, done.stderr), done.stderr
    assert (tmp_path / "out" / "server.jar").stat().st_size == 3_000_000


@pytest.mark.parametrize("progress", ["1", None])
def test_on_a_terminal_each_artifact_ticks_then_shows_its_size_and_time(tmp_path: Path, progress: str | None
                                                                        ) -> None:
    # BRANCHOPS_PROGRESS=1 is how a caller whose own stderr is a terminal says so; unset, the
    # script asks whether its stderr is one (here: a pipe, so the quiet case)
    done = run(FETCH + 'progress_step "unpack" out true; progress_end "the fake server"', tmp_path, progress)
    lines = done.stderr.split("\n")
    if progress is None:
        assert len(lines) == 2 and re.fullmatch(SUMMARY, done.stderr)
        return
    assert done.returncode == 0, done.stderr
    assert "\r\x1b[Kfake.sh: org.example:server:1:jar ... 1 s" in lines[0]  # ticking in place
    assert re.search(r"\r\x1b\[Kfake\.sh: org\.example:server:1:jar: 1 file\(s\), 3\.0 MB in [12] s$", lines[0])
    assert re.search(r"\r\x1b\[Kfake\.sh: unpack: 0 file\(s\), 0\.0 MB in 0 s$", lines[1])
    # the summary counts fetches, not other steps
    assert re.fullmatch(SUMMARY, lines[2] + "\n") and lines[3:] == [""]


def test_a_failed_fetch_stops_the_ticking_line_and_fails(tmp_path: Path) -> None:
    done = run('progress_begin fake.sh; progress_fetch "org.example:gone:1:jar" out sh -c "sleep 1.2; '
               'printf no-such-artifact >&2; exit 3"; progress_end "never"', tmp_path, "1")
    assert done.returncode == 3
    assert "no-such-artifact" in done.stderr and "fetched" not in done.stderr
    assert done.stderr.endswith("\n")  # the ticking line is ended, the terminal's prompt starts afresh
