"""What a user gets from ``pip install branchops``: a wheel that works outside a checkout, and a CLI
that starts without loading the data stack."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("dbt", "pyarrow", "pyiceberg", "duckdb", "httpx", "boto3", "botocore", "sqlglot", "sqlalchemy", "pydantic")


def test_cli_import_loads_no_data_stack() -> None:
    code = (
        "import sys, branchops, branchops.cli\n"
        "from branchops.cli import commands\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert json.loads(out.stdout.replace("'", '"')) == []


def run_loading(argv: list[str], cwd: Path, *setup: list[str]) -> tuple[str, list[str]]:
    """Run ``branchops argv`` in-process in a fresh interpreter in ``cwd`` (after the ``setup``
    commands, each a whole process): its stdout, and which of :data:`HEAVY` it had loaded."""
    exe = str(Path(sys.executable).with_name("branchops"))
    for args in setup:
        subprocess.run([exe, *args], cwd=cwd, check=True, capture_output=True)
    code = (
        "import sys\n"
        "from branchops.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "finally:\n"
        f"    print('LOADED', sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})), file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd)
    assert out.returncode == 0, out.stderr
    loaded = out.stderr.strip().splitlines()[-1]
    assert loaded.startswith("LOADED ")
    return out.stdout, json.loads(loaded[len("LOADED "):].replace("'", '"'))


def test_branch_list_loads_no_data_stack_and_no_sqlalchemy(tmp_path: Path) -> None:
    """A quick command on the embedded catalog talks DB-API (sqlite3) itself and its settings are a
    plain dataclass: running ``branch list`` loads none of the heavy modules, SQLAlchemy and
    pydantic included (typer 0.29 would load pydantic to coerce parameters: pinned below it)."""
    stdout, loaded = run_loading(["branch", "list"], tmp_path, ["init"])
    assert "main" in stdout
    assert loaded == []


def test_a_diff_nothing_moved_in_loads_no_data_stack(tmp_path: Path) -> None:
    """``diff`` of two refs with the same tables is answered from the catalog: the per-table
    machinery (pyiceberg's manifest reader, sqlglot, DuckDB) is imported only when a table moved."""
    stdout, loaded = run_loading(["--output", "json", "diff", "same", "--base", "main"], tmp_path,
                                 ["init"], ["branch", "create", "same"])
    assert json.loads(stdout)["tables"] == []
    assert loaded == []


def test_a_pr_run_without_a_forge_token_loads_no_http_client() -> None:
    """``pr open`` outside GitHub/GitLab posts nothing: the modules it runs import httpx only
    when a client is made (~30 ms of a fresh process)."""
    code = (
        "import sys\n"
        "import branchops.pr.lifecycle, branchops.pr.reporter, branchops.pr.gitlab\n"
        "from branchops.pr.github import GitHubClient\n"
        "assert GitHubClient.from_env({}) is None\n"
        "print('httpx' in sys.modules)\n"
        "client = GitHubClient('o/r', 'token')\n"
        "print('httpx' in sys.modules, client._owns_client)\n"
        "client.close()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "True", "True"]


def test_public_names_still_resolve_lazily() -> None:
    code = (
        "import sys, branchops\n"
        "assert 'pyarrow' not in sys.modules\n"
        "lh = branchops.Lakehouse\n"  # first use imports what it needs
        "print(lh.__module__, 'pyarrow' in sys.modules, branchops.build.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["branchops.lakehouse", "False", "branchops.dbt"]


@pytest.mark.slow
def test_wheel_quickstart_outside_the_checkout(tmp_path: Path) -> None:
    """Build the wheel, install it into a fresh venv in a folder that is not the checkout, and run
    the quickstart there: the sample project must come from the package data."""
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    dist = tmp_path / "dist"
    subprocess.run([uv, "build", "--wheel", "--out-dir", str(dist), str(ROOT)], check=True, capture_output=True)
    (wheel,) = dist.glob("branchops-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([uv, "pip", "install", "-q", "--python", str(py), str(wheel), "-c",
                    str(ROOT / "constraints.txt")], check=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRANCHOPS_", "PYTHON"))}
    out = subprocess.run([str(venv / "bin" / "branchops"), "--output", "json", "quickstart", "--dir", "qs"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    steps = {s["step"]: s for s in json.loads(out.stdout)["steps"]}
    merge = steps["pr_merge"]
    assert merge["status"] == "merged"
    # the PR lowers the gold threshold from 1,000 to 800: more gold customers, same total
    before, after = merge["segments_before"], merge["segments_after"]
    assert after == merge["segments_on_branch"]
    assert after["gold"] > before["gold"]
    assert sum(after.values()) == sum(before.values())
    # it ran from the installed package, not from this checkout
    installed = subprocess.run([str(py), "-c", "import branchops; print(branchops.__file__)"],
                               capture_output=True, text=True, check=True, cwd=work).stdout
    assert str(venv) in installed and (work / "qs" / "dbt_project" / "dbt_project.yml").is_file()
