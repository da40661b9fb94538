"""The nightly write-audit-publish job, run for real in-process on the embedded stack."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_helpers import MODELS, ORDERS, PROJECT, duplicate_order, new_orders, snapshot

from branchops.dagster import BranchopsResource, RowCountCheck, branchops_dbt_assets, nightly_job
from branchops.lakehouse import Lakehouse


def run_nightly(config_path: str, manifest: Path, landing: Callable[[Lakehouse, str], Any],
                **kw: Any) -> dg.ExecuteInProcessResult:
    assets = branchops_dbt_assets(project_dir=PROJECT, manifest=manifest)
    job = nightly_job(project=PROJECT, landing=landing, dbt_assets=assets,
                      checks=[RowCountCheck("raw.orders", max_change=0.5)],
                      webserver_url="https://dagster.example.com/prod", **kw)
    return job.execute_in_process(resources={"branchops": BranchopsResource(config_path=config_path)},
                                  raise_on_error=False)


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    [event] = result.get_step_failure_events()
    data = event.step_failure_data.user_failure_data
    assert data is not None
    return data.description or ""


def test_a_passing_night_lands_in_one_merge_commit(lakehouse: Lakehouse, config_path: str,
                                                    manifest: Path) -> None:
    before = [c.hash for c in lakehouse.catalog.log("main")]
    result = run_nightly(config_path, manifest, lambda lh, branch: new_orders(lh, branch, 100))
    assert result.success
    log = lakehouse.catalog.log("main")
    assert [c.hash for c in log[1:]] == before  # exactly one new commit on main
    merge = log[0]
    assert merge.properties["branchops.dagster.run_id"] == result.run_id
    assert merge.properties["branchops.dagster.run_url"] == f"https://dagster.example.com/prod/runs/{result.run_id}"
    assert merge.properties["branchops.operation"] == "nightly"
    assert {c.table for c in merge.changes} == {"raw.orders", "raw.payments", *(f"analytics.{m}" for m in MODELS)}
    assert lakehouse.read("raw.orders").num_rows == ORDERS + 100
    assert lakehouse.read("analytics.orders").num_rows == ORDERS + 100  # one row per order, rebuilt
    assert f"nightly-{result.run_id}" not in {r.name for r in lakehouse.catalog.list_refs()}  # dropped
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 20 and all(c.passed for c in checks)
    mats = {e.materialization.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert mats == set(MODELS)
    assert result.output_for_node("publish_to_main") == merge.hash


def test_a_failing_dbt_test_keeps_main_and_the_branch(lakehouse: Lakehouse, config_path: str,
                                                      manifest: Path) -> None:
    before = snapshot(lakehouse)
    result = run_nightly(config_path, manifest, duplicate_order)
    assert not result.success
    after = snapshot(lakehouse)
    assert after["main"] == before["main"]
    assert dict(after["refs"])["main"] == dict(before["refs"])["main"]  # main untouched
    branch = f"nightly-{result.run_id}"
    assert lakehouse.read("raw.orders", branch).num_rows == ORDERS + 1  # kept, with what landed
    text = failure_text(result)
    assert "dbt test unique_stg_orders_order_id: fail" in text  # downstream models were skipped by dbt
    assert f"raw.orders modified: {ORDERS} -> {ORDERS + 1} rows" in text  # the diff summary
    assert f"main was not changed; {branch} is kept for inspection" in text
    failed = {c.check_name for c in result.get_asset_check_evaluations() if not c.passed}
    assert "unique_stg_orders_order_id" in failed
    assert not result.get_asset_materialization_events()


def test_a_failing_diff_check_keeps_main_and_the_branch(lakehouse: Lakehouse, config_path: str,
                                                        manifest: Path) -> None:
    before = snapshot(lakehouse)
    result = run_nightly(config_path, manifest, lambda lh, branch: new_orders(lh, branch, 4000))
    assert not result.success
    assert result.output_for_node("dbt_build_on_branch").dbt.success  # dbt passed: the diff check failed
    assert snapshot(lakehouse)["main"] == before["main"]
    branch = f"nightly-{result.run_id}"
    assert lakehouse.read("analytics.orders", branch).num_rows == ORDERS + 4000  # built, kept, not merged
    text = failure_text(result)
    assert f"row_count_change:raw.orders: raw.orders: {ORDERS} -> {ORDERS + 4000} rows (80.0% moved" in text
    assert "analytics.orders added" in text  # main held raw data only


def test_a_failing_landing_step_writes_nothing_to_main(lakehouse: Lakehouse, config_path: str,
                                                       manifest: Path) -> None:
    before = snapshot(lakehouse)

    def land(lh: Lakehouse, branch: str) -> None:
        lh.ingest("raw.orders", lakehouse.settings.root / "missing.csv", branch=branch)

    result = run_nightly(config_path, manifest, land)
    assert not result.success and snapshot(lakehouse)["main"] == before["main"]
    assert "missing.csv" in failure_text(result)


def test_a_landing_op_of_the_users_own(lakehouse: Lakehouse, config_path: str, manifest: Path) -> None:
    """The landing step as the user's own op (taking and returning the branch); dbt flags pass through."""

    @dg.op(required_resource_keys={"branchops"}, ins={"branch": dg.In(str)}, out=dg.Out(str))
    def airbyte_sync(context, branch):  # type: ignore[no-untyped-def]  # Dagster reads real annotations only
        with context.resources.branchops.lakehouse() as lh:
            duplicate_order(lh, branch)
        return branch

    before = snapshot(lakehouse)
    result = run_nightly(config_path, manifest, airbyte_sync, dbt_args=["--select", "stg_orders"])
    assert not result.success and snapshot(lakehouse)["main"] == before["main"]
    assert result.output_for_node("airbyte_sync") == f"nightly-{result.run_id}"
    build = result.output_for_node("dbt_build_on_branch").dbt
    assert {n.name for n in build.nodes if n.resource_type == "model"} == {"stg_orders"}  # only the selection
    assert "dbt test unique_stg_orders_order_id: fail" in failure_text(result)
