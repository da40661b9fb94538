"""The collector tuning of a whole ``branchops`` process (branchops.cli.process)."""

from __future__ import annotations

import gc
import json
import os
import pstats
import subprocess
import sys
from pathlib import Path

from branchops.cli import process
from tests.cli.conftest import CliRunner


def test_main_called_in_process_leaves_the_collector_alone(cli: CliRunner) -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    assert cli("--help").code == 0
    assert cli("branch", "list").code == 2  # no branchops.toml here: an error path ends the same way
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen


def _python(code: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``code`` run by a fresh interpreter (this one), its output captured as text."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=cwd)


def test_a_whole_process_collects_less_and_skips_the_heap_at_exit() -> None:
    code = ("import atexit, gc, sys\n"
            "atexit.register(lambda: print(gc.get_threshold(), gc.get_freeze_count() > 0, flush=True))\n"
            "sys.argv = ['branchops', '--help']\n"
            "from branchops.cli import main\n"
            "main()\n")
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == f"{process.THRESHOLDS} True"


def test_a_whole_process_defers_what_pyiceberg_imports_and_branchops_does_not_use() -> None:
    """pyparsing (pyiceberg's row-filter parser) is not loaded by importing what a pr run imports,
    and works when used; strictyaml, which threads may reach, is imported as usual."""
    code = ("import sys\n"
            "from branchops.cli import process\n"
            "process.start()\n"  # what main() does first in a whole process
            "import branchops.pr.lifecycle, branchops.dbt.publish, branchops.catalog.iceberg, pyiceberg.table\n"
            "print(sorted(m for m in ('pyparsing', 'strictyaml') if m in sys.modules and\n"
            "             type(sys.modules[m]).__name__ != '_LazyModule'))\n"
            "from pyiceberg.expressions import parser\n"
            "import strictyaml\n"
            "print(parser.parse('a > 1'), strictyaml.load('k: v').data)\n")
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-2] == "['strictyaml']"  # pyparsing's code did not run; strictyaml's did
    assert lines[-1] == "GreaterThan(term=Reference(name='a'), literal=LongLiteral(1)) {'k': 'v'}"


def test_main_called_in_process_defers_no_import(cli: CliRunner) -> None:
    assert cli("--help").code == 0
    assert process.DeferredImports not in sys.meta_path


SCHEMA_OF_A_DBT_CLASS = (
    "import json, sys\n"
    "from dbt.artifacts.resources import NodeConfig\n"
    "from mashumaro.jsonschema import build_json_schema\n"
    "from mashumaro.jsonschema.schema import EmptyJSONSchema\n"
    "print('CodeBuilder' in EmptyJSONSchema.__dict__['to_dict'].__code__.co_names)\n"
    "print(json.dumps(build_json_schema(NodeConfig).to_dict(), sort_keys=True))\n"
    "print(json.dumps(NodeConfig.json_schema(), sort_keys=True))\n"
)


def test_a_whole_process_compiles_mashumaros_schema_classes_when_first_used() -> None:
    """dbt imports mashumaro's JSON-schema classes: in a whole process their serializers are
    compiled at first use, and the schemas they build are the same as when compiled at import."""
    start = "from branchops.cli import process\nprocess.start()\n"
    runs = [_python(prefix + SCHEMA_OF_A_DBT_CLASS) for prefix in ("", start)]
    for proc in runs:
        assert proc.returncode == 0, proc.stderr
    eager, lazy = (proc.stdout.splitlines() for proc in runs)
    assert eager[0] == "False"  # compiled when the module ran
    assert lazy[0] == "True"  # not yet: a placeholder that compiles itself when called
    assert json.loads(lazy[1])["properties"]["materialized"] == {"type": "string", "default": "view"}
    assert lazy[1:] == eager[1:]


EXIT_SCRIPT = (
    "import atexit, os, sys, tempfile, threading, time\n"

    "def late():\n"
    "    time.sleep(0.3)\n"
    "    print('thread done')\n"
    "threading.Thread(target=late).start()\n"
    "scratch = tempfile.TemporaryDirectory()\n"
    "print(scratch.name)\n"
    "atexit.register(lambda: print('atexit ran', os.path.isdir(scratch.name)))\n"
    "sys.argv = ['branchops', 'no-such-command']\n"
    "from branchops.cli import main\n"
    "main()\n"
)


def test_a_whole_process_exits_as_python_does_without_tearing_the_heap_down(tmp_path: Path) -> None:
    """``process.exit_now`` skips only the teardown: the exit code, a running thread joined, atexit
    handlers run, a temporary folder cleaned up and buffered output written, as at a normal exit."""
    proc = _python(EXIT_SCRIPT, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr  # an unknown command: a usage error
    scratch, *rest = proc.stdout.splitlines()
    assert rest == ["thread done", "atexit ran True"]
    assert not Path(scratch).exists()



def _without_unbuffered() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout buffered, as in CI


def test_output_that_cannot_be_written_at_exit_fails_the_process_as_python_does(tmp_path: Path) -> None:
    """``-o json`` output still in stdout's buffer when the command ends, written to a full disk
    (Linux's /dev/full) or to a pipe whose reader is gone: a normal Python exit reports the failed
    flush and exits 120; the run must not look successful."""
    env = _without_unbuffered()
    run = [sys.executable, "-m", "branchops"]
    assert subprocess.run([*run, "init"], cwd=tmp_path, env=env, capture_output=True, check=False).returncode == 0
    command = [*run, "-o", "json", "branch", "list"]
    ok = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and json.loads(ok.stdout)[0]["name"] == "main"

    read, write = os.pipe()
    os.close(read)  # the reader went away before the output was flushed
    sinks = [(write, "BrokenPipeError")]
    if Path("/dev/full").exists():
        sinks.append((os.open("/dev/full", os.O_WRONLY), "No space left on device"))
    try:
        for fd, message in sinks:
            proc = subprocess.run(command, cwd=tmp_path, env=env, stdout=fd, stderr=subprocess.PIPE, text=True,
                                  check=False)
            assert proc.returncode == 120, (message, proc.stderr)
            assert message in proc.stderr
    finally:
        for fd, _ in sinks:
            os.close(fd)


def test_a_process_started_without_stdout_keeps_its_exit_code(tmp_path: Path) -> None:
    """``branchops ... >&-``: Python has no ``sys.stdout`` (None) and nothing to flush; a usage
    error still ends with 2, as at a normal exit."""
    proc = subprocess.run(["sh", "-c", 'exec "$0" -m branchops no-such-command >&-', sys.executable], cwd=tmp_path,
                          env=_without_unbuffered(), stderr=subprocess.PIPE, text=True, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "No such command" in proc.stderr and "Exception ignored" not in proc.stderr


def test_a_profiled_or_traced_process_exits_through_its_profiler(tmp_path: Path) -> None:
    """``python -m cProfile -o out -m branchops ...`` writes the profile once ``main`` raised
    SystemExit; ending with ``os._exit`` inside ``main`` would leave no profile (nor a debugger's
    or a tracer's report): with a profile or trace function set, the process exits normally."""
    out = tmp_path / "branchops.prof"
    proc = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), "-m", "branchops", "--help"],
                          cwd=tmp_path, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Usage" in proc.stdout
    stats = pstats.Stats(str(out))
    assert any(func[2] == "main" and func[0].endswith(os.path.join("branchops", "cli", "app.py"))
               for func in stats.stats)  # type: ignore[attr-defined]
