"""The collector tuning of a whole ``branchops`` process (branchops.cli.process)."""

from __future__ import annotations

import gc
import subprocess
import sys

from branchops.cli import process
from tests.cli.conftest import CliRunner


def test_main_called_in_process_leaves_the_collector_alone(cli: CliRunner) -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    assert cli("--help").code == 0
    assert cli("branch", "list").code == 2  # no branchops.toml here: an error path ends the same way
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen


def test_a_whole_process_collects_less_and_skips_the_heap_at_exit() -> None:
    code = ("import atexit, gc, sys\n"
            "atexit.register(lambda: print(gc.get_threshold(), gc.get_freeze_count() > 0, flush=True))\n"
            "sys.argv = ['branchops', '--help']\n"
            "from branchops.cli import main\n"
            "main()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == f"{process.THRESHOLDS} True"
