"""Fixtures of the Dagster tests: real Dagster in-process on the embedded stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster_helpers import PROJECT, new_lakehouse

from branchops.dagster import prepare_manifest
from branchops.lakehouse import Lakehouse


@pytest.fixture(autouse=True)
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Dagster's instance folder in the test's tmp dir; no branch-deployment variables leak in."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for name in ("DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT", "DAGSTER_CLOUD_PULL_REQUEST_ID", "BRANCHOPS_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture(scope="session")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample project's manifest, parsed once (outside the project folder)."""
    return prepare_manifest(PROJECT, target_dir=tmp_path_factory.mktemp("manifest"))


@pytest.fixture
def lakehouse(tmp_path: Path) -> Iterator[Lakehouse]:
    """Demo raw data on main, and a developer branch `dev` forked from it."""
    lh = new_lakehouse(tmp_path / "lake")
    lh.catalog.create_branch("dev", from_ref="main")
    try:
        yield lh
    finally:
        lh.close()


@pytest.fixture
def config_path(lakehouse: Lakehouse) -> str:
    return str(lakehouse.settings.root / "branchops.toml")
