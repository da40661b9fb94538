"""The nightly job builds main from the dbt code at the sha of main's last merged PR, checked
out from a (local, bare) git repository at run time."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster_helpers import dbt_repo, new_orders, record_pr_merge, snapshot

from branchops.dagster import BranchopsResource, GitDbtProject, last_merged_sha, nightly_job
from branchops.lakehouse import Lakehouse


def run(project: GitDbtProject, config_path: str) -> dg.ExecuteInProcessResult:
    job = nightly_job(project=project, landing=lambda lh, branch: new_orders(lh, branch, 10))
    return job.execute_in_process(resources={"branchops": BranchopsResource(config_path=config_path)},
                                  raise_on_error=False)


def test_the_code_at_the_last_merged_prs_sha_is_built(lakehouse: Lakehouse, config_path: str,
                                                       tmp_path: Path) -> None:
    repo, (first, second, _third) = dbt_repo(tmp_path / "git", ["v1", "v2", "v3"])
    record_pr_merge(lakehouse, 1, first)
    record_pr_merge(lakehouse, 2, second)  # the newest merge: v2, although the repo is at v3
    assert last_merged_sha(lakehouse) is not None and last_merged_sha(lakehouse)[0] == second  # type: ignore[index]
    result = run(GitDbtProject(str(repo), subdir="dbt_project"), config_path)
    assert result.success
    merge = lakehouse.catalog.log("main", limit=1)[0]
    assert merge.properties["branchops.nightly.dbt_sha"] == second
    assert merge.properties["branchops.dagster.run_id"] == result.run_id
    versions = set(lakehouse.read("analytics.stg_customers").column("code_version").to_pylist())
    assert versions == {"v2"}


def test_no_merged_pr_and_no_default_fails_before_building(lakehouse: Lakehouse, config_path: str,
                                                           tmp_path: Path) -> None:
    repo, _ = dbt_repo(tmp_path / "git", ["v1"])
    before = snapshot(lakehouse)
    result = run(GitDbtProject(str(repo), subdir="dbt_project"), config_path)
    assert not result.success and snapshot(lakehouse)["main"] == before["main"]
    [event] = result.get_step_failure_events()
    data = event.step_failure_data.user_failure_data
    assert data is not None and "no merged pull request is recorded on main" in (data.description or "")
    assert "default_rev" in (data.description or "")


def test_a_sha_missing_from_the_repository(lakehouse: Lakehouse, config_path: str, tmp_path: Path) -> None:
    repo, _ = dbt_repo(tmp_path / "git", ["v1"])
    record_pr_merge(lakehouse, 5, "0" * 40)
    before = snapshot(lakehouse)["main"]
    result = run(GitDbtProject(str(repo), subdir="dbt_project"), config_path)
    assert not result.success and snapshot(lakehouse)["main"] == before
    [event] = result.get_step_failure_events()
    data = event.step_failure_data.user_failure_data
    assert data is not None and f"revision {'0' * 40}" in (data.description or "")
