"""Shared, read-only fixtures for the dbt tests: a lakehouse with demo data whose main holds a
full build of the sample project (real dbt-core + dbt-duckdb; one build per session)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dbt_helpers import PROJECT, SCALE, copy_project, new_lakehouse

from branchops.dbt import DbtRunResult, build
from branchops.demo import load_demo_data
from branchops.lakehouse import Lakehouse


@pytest.fixture(scope="session")
def main_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lakehouse, DbtRunResult]]:
    """Demo data at SCALE on main, then `dbt build` of the sample project on main (read-only!)."""
    lh = new_lakehouse(tmp_path_factory.mktemp("dbt-lakehouse"))
    load_demo_data(lh, SCALE)
    result = build(lh, "main", PROJECT, dbt_output="stderr")
    try:
        yield lh, result
    finally:
        lh.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project")
