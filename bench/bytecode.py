"""Measure processes as users run them: with bytecode caches in place.

Some machines (this project's CI and dev sandboxes among them) set ``PYTHONDONTWRITEBYTECODE=1``,
and ``uv pip install`` does not compile by default: then every process compiles each module it
imports from source, which costs seconds for dbt, duckdb or pyarrow and has nothing to do with
branchops. Benchmarks that time whole processes call :func:`ensure_bytecode` first.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ensure_bytecode(python: str = sys.executable, root: Path = ROOT) -> None:
    """Compile ``python``'s site-packages and the branchops package (of the checkout ``root``)
    once, and let children keep caches (``PYTHONDONTWRITEBYTECODE`` is removed from this
    process's environment)."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sites = subprocess.run(
        [python, "-c", "import site; print('\\n'.join(site.getsitepackages()))"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    subprocess.run(
        [python, "-m", "compileall", "-q", "-j", "0", *sites, str(root / "branchops")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
    )
