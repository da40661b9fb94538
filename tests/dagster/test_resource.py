"""A misconfigured BranchopsResource fails the Dagster run with branchops' error and hint, and
writes nothing; branch resolution for branch deployments and local runs."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from dagster_helpers import PROJECT, snapshot

from branchops.config import load_settings
from branchops.dagster import BranchopsResource, branch_deployment_pr, branchops_dbt_assets
from branchops.errors import ConfigError
from branchops.lakehouse import Lakehouse


def failed_run(resource: BranchopsResource, manifest: Path) -> str:
    """Materialize one model with ``resource``; the run must fail: its failure description."""
    assets = branchops_dbt_assets(project_dir=PROJECT, manifest=manifest)
    result = dg.materialize([assets], selection="stg_customers", resources={"branchops": resource},
                            raise_on_error=False)
    assert not result.success
    [event] = result.get_step_failure_events()
    data = event.step_failure_data.user_failure_data
    assert data is not None and data.description
    return data.description


def test_no_catalog_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, manifest: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    text = failed_run(BranchopsResource(branch="dev"), manifest)
    assert "names no catalog" in text and "Next: set BranchopsResource(config_path=" in text
    assert list(empty.iterdir()) == []  # nothing written


def test_a_config_path_that_does_not_exist(tmp_path: Path, manifest: Path) -> None:
    text = failed_run(BranchopsResource(config_path=str(tmp_path / "nope.toml"), branch="dev"), manifest)
    assert "nope.toml does not exist" in text and "Next:" in text


def test_a_catalog_uri_with_no_catalog_creates_none(tmp_path: Path, manifest: Path) -> None:
    db = tmp_path / "catalog.db"
    text = failed_run(BranchopsResource(catalog_uri=f"sqlite:///{db}", warehouse=str(tmp_path / "wh"),
                                        branch="dev"), manifest)
    assert f"no branchops catalog at {db}" in text and "branchops init" in text
    assert not db.exists() and not (tmp_path / "wh").exists()


def test_an_unknown_branch(lakehouse: Lakehouse, config_path: str, manifest: Path) -> None:
    before = snapshot(lakehouse)
    text = failed_run(BranchopsResource(config_path=config_path, branch="dev-nobody"), manifest)
    assert "branch 'dev-nobody' does not exist" in text
    assert "Next: create it (`branchops branch create dev-nobody`" in text
    assert snapshot(lakehouse) == before


def test_main_as_the_developer_branch(lakehouse: Lakehouse, config_path: str, manifest: Path) -> None:
    before = snapshot(lakehouse)
    text = failed_run(BranchopsResource(config_path=config_path, branch="main"), manifest)
    assert "would write straight into production" in text and "allow_main=True" in text
    assert snapshot(lakehouse) == before


def test_no_branch_named(lakehouse: Lakehouse, config_path: str, manifest: Path) -> None:
    before = snapshot(lakehouse)
    text = failed_run(BranchopsResource(config_path=config_path), manifest)
    assert "names no branch" in text and snapshot(lakehouse) == before


def test_a_branch_deployment_without_a_pull_request(lakehouse: Lakehouse, config_path: str, manifest: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT", "1")
    before = snapshot(lakehouse)
    text = failed_run(BranchopsResource(config_path=config_path, branch="dev"), manifest)
    assert "DAGSTER_CLOUD_PULL_REQUEST_ID is not set" in text and snapshot(lakehouse) == before


def test_branch_resolution(tmp_path: Path, config_path: str) -> None:
    settings = load_settings(config_path)
    res = BranchopsResource(config_path=config_path, branch="dev")
    assert res.resolve_branch(settings, {}) == "dev"
    assert res.resolve_branch(settings, {"DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "0"}) == "dev"
    deployment = {"DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1", "DAGSTER_CLOUD_PULL_REQUEST_ID": "42"}
    assert res.resolve_branch(settings, deployment) == "pr-42"
    assert branch_deployment_pr(deployment) == 42 and branch_deployment_pr({}) is None
    with pytest.raises(ConfigError, match="is abc"):
        branch_deployment_pr({"DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1", "DAGSTER_CLOUD_PULL_REQUEST_ID": "abc"})
    assert BranchopsResource(config_path=config_path, branch="main", allow_main=True).resolve_branch(settings, {}) \
        == "main"


def test_create_branch_forks_a_missing_branch_from_main(lakehouse: Lakehouse, config_path: str) -> None:
    res = BranchopsResource(config_path=config_path, branch="dev-new", create_branch=True)
    with res.lakehouse() as lh:
        assert res.branch_for_run(lh, {}) == "dev-new"
    assert lakehouse.catalog.tables("dev-new") == lakehouse.catalog.tables("main")


def test_fields_instead_of_a_file(lakehouse: Lakehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no branchops.toml here or above
    s = lakehouse.settings
    res = BranchopsResource(catalog_uri=s.catalog_url, warehouse=s.warehouse_location, branch="dev")
    with res.lakehouse() as lh:
        assert lh.catalog.tables("main") == lakehouse.catalog.tables("main")


def test_import_branchops_does_not_import_dagster() -> None:
    import subprocess
    import sys

    code = ("import sys, branchops\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'dagster_dbt')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
