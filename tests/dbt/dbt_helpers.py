"""Helpers of the dbt tests (a module of its own: every test folder has a `conftest`)."""

from __future__ import annotations

import shutil
from pathlib import Path

from branchops.config import load_settings
from branchops.lakehouse import Lakehouse
from branchops.project_init import init_project

PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
#: 500 customers, 5,000 orders, ~6,000 payments: enough rows for every model, fast to build
SCALE = 0.005


def new_lakehouse(root: Path) -> Lakehouse:
    init_project(root)
    return Lakehouse(load_settings(root / "branchops.toml"))


def copy_project(dest: Path) -> Path:
    """A private copy of the sample project that a test may edit."""
    shutil.copytree(PROJECT, dest, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    return dest
