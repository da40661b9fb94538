"""dbt assets materialized on a branch through branchops, with real Dagster in-process."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from dagster_helpers import MODELS, PROJECT, copy_project, duplicate_order, snapshot

from branchops.dagster import BranchopsResource, branchops_dbt_assets
from branchops.lakehouse import Lakehouse


def materializations(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, object]]:
    out = {}
    for ev in result.get_asset_materialization_events():
        mat = ev.materialization
        out[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    return out


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    out = {}
    for ev in result.get_asset_check_evaluations():
        out[f"{ev.asset_key.to_user_string()}:{ev.check_name}"] = ev.passed
    return out


def test_materialize_builds_on_the_branch_in_one_commit(lakehouse: Lakehouse, config_path: str,
                                                         manifest: Path) -> None:
    main_before = lakehouse.catalog.get_ref("main").hash
    assets = branchops_dbt_assets(project_dir=PROJECT, manifest=manifest)
    result = dg.materialize([assets], resources={"branchops": BranchopsResource(config_path=config_path,
                                                                                 branch="dev")})
    assert result.success
    head = lakehouse.catalog.log("dev", limit=1)[0]
    assert {c.table for c in head.changes} == {f"analytics.{m}" for m in MODELS}  # one commit holds all
    mats = materializations(result)
    assert sorted(mats) == MODELS  # one asset per model / seed
    for name, meta in mats.items():
        assert meta["branchops/commit"] == head.hash and meta["branchops/branch"] == "dev"
        assert meta["dagster/row_count"] == lakehouse.read(f"analytics.{name}", "dev").num_rows
    results = checks(result)
    assert len(results) == 20 and all(results.values())  # the sample project's 20 dbt tests
    assert "orders:unique_orders_order_id" in results
    assert lakehouse.catalog.get_ref("main").hash == main_before  # production untouched


def test_a_subset_builds_only_the_selection(lakehouse: Lakehouse, config_path: str, manifest: Path) -> None:
    assets = branchops_dbt_assets(project_dir=PROJECT, manifest=manifest)
    result = dg.materialize([assets], selection="stg_orders",
                            resources={"branchops": BranchopsResource(config_path=config_path, branch="dev")})
    assert result.success
    assert list(materializations(result)) == ["stg_orders"]
    head = lakehouse.catalog.log("dev", limit=1)[0]
    assert {c.table for c in head.changes} == {"analytics.stg_orders"}
    assert set(checks(result)) == {"stg_orders:unique_stg_orders_order_id", "stg_orders:not_null_stg_orders_order_id",
                                   "stg_orders:accepted_values_stg_orders_status__placed__shipped__completed__return_pending__returned"}


def test_a_failing_dbt_test_publishes_nothing(lakehouse: Lakehouse, config_path: str, manifest: Path) -> None:
    duplicate_order(lakehouse, "dev")
    before = snapshot(lakehouse)
    assets = branchops_dbt_assets(project_dir=PROJECT, manifest=manifest)
    result = dg.materialize([assets], raise_on_error=False,
                            resources={"branchops": BranchopsResource(config_path=config_path, branch="dev")})
    assert not result.success
    assert snapshot(lakehouse) == before  # nothing published, on dev or anywhere
    assert not materializations(result)
    results = checks(result)
    assert results["stg_orders:unique_stg_orders_order_id"] is False
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert failure is not None and "unique_stg_orders_order_id" in (failure.description or "")
    assert "nothing was published" in (failure.description or "")


def test_branch_deployment_works_on_the_pr_branch(lakehouse: Lakehouse, config_path: str, manifest: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT", "1")
    monkeypatch.setenv("DAGSTER_CLOUD_PULL_REQUEST_ID", "7")
    lakehouse.catalog.create_branch("pr-7", from_ref="main")
    main_before, dev_before = lakehouse.catalog.get_ref("main").hash, lakehouse.catalog.get_ref("dev").hash
    assets = branchops_dbt_assets(project_dir=PROJECT, manifest=manifest)
    # the developer branch in the config is ignored: the deployment names its PR
    result = dg.materialize([assets], selection="stg_customers",
                            resources={"branchops": BranchopsResource(config_path=config_path, branch="dev")})
    assert result.success
    assert materializations(result)["stg_customers"]["branchops/branch"] == "pr-7"
    assert "analytics.stg_customers" in lakehouse.catalog.tables("pr-7")
    assert lakehouse.catalog.get_ref("main").hash == main_before
    assert lakehouse.catalog.get_ref("dev").hash == dev_before


def test_a_project_with_its_own_failing_test_reports_it(lakehouse: Lakehouse, config_path: str,
                                                       tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    marts = project / "models" / "marts" / "marts.yml"
    never = "{accepted_values: {arguments: {values: [0]}}}"  # order ids are never 0: fails
    marts.write_text(marts.read_text().replace(
        "data_tests: [unique, not_null]", f"data_tests: [unique, not_null, {never}]", 1))
    assets = branchops_dbt_assets(project_dir=project)  # parsed here: the manifest has the new test
    before = snapshot(lakehouse)
    result = dg.materialize([assets], raise_on_error=False,
                            resources={"branchops": BranchopsResource(config_path=config_path, branch="dev")})
    assert not result.success and snapshot(lakehouse) == before
    failed = [k for k, passed in checks(result).items() if not passed]
    assert len(failed) == 1 and "accepted_values" in failed[0]
