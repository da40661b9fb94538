"""The required check: a check run named ``branchops`` on the PR's head sha, in progress while a
sync runs, then success or failure with the report as its summary; a commit status when the token
may not create check runs (403); a GitLab commit status. Against local servers replaying
recorded payloads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from github_server import FakeGitHub, serve
from gitlab_server import FakeGitLab
from helpers import TOKEN, PointerDiffer, TableBuilder, rows

from branchops.errors import BackendError
from branchops.lakehouse import Lakehouse
from branchops.pr import PullRequests, Reporter, Status
from branchops.pr.github import CHECK_NAME, MARKER, GitHubClient
from branchops.pr.gitlab import GitLabClient

SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
PROJECT = Path("unused-by-the-table-builder")


class Broken(TableBuilder):
    def build(self, lakehouse: Lakehouse, *, branch: str, project_dir: Path, base: str,  # type: ignore[no-untyped-def]
              **_: object):
        raise RuntimeError("the build step crashed")


def sync(lh: Lakehouse, reporter: Reporter, builder: TableBuilder, pr: int = 7):  # type: ignore[no-untyped-def]
    return PullRequests(lh, reporter, builder=builder, differ=PointerDiffer()).sync(pr, SHA, PROJECT)


def github_reporter() -> Reporter:
    gh = GitHubClient.from_env()
    assert gh is not None
    return Reporter(gh, env={})


def test_a_sync_reports_a_check_run_in_progress_then_success(lakehouse: Lakehouse, github: FakeGitHub) -> None:
    out = sync(lakehouse, github_reporter(), TableBuilder({"mart.orders": rows(3)}))
    assert out.status is Status.PASSED
    calls = [(r.method, r.path.split("?")[0].split("/", 4)[-1]) for r in github.requests]
    assert calls[0] == ("POST", "check-runs")  # in progress before anything is built
    assert calls[-1][0] == "PATCH" and calls[-1][1].startswith("check-runs/")
    first = json.loads(github.requests[0].body)
    assert first == {"name": CHECK_NAME, "head_sha": SHA, "status": "in_progress"}
    [run] = github.check_runs.values()
    assert run["status"] == "completed" and run["conclusion"] == "success"
    assert run["output"]["title"] == "PR #7: passed, 1 table(s) changed"
    assert run["output"]["summary"].startswith(MARKER) and "mart.orders" in run["output"]["summary"]
    assert all(TOKEN not in r.body for r in github.requests)


def test_failed_build_and_a_crashed_sync_complete_the_check_as_failure(
    lakehouse: Lakehouse, github: FakeGitHub
) -> None:
    out = sync(lakehouse, github_reporter(), TableBuilder({"mart.orders": rows(3)}, ok=False))
    assert out.status is Status.FAILED
    [run] = github.check_runs.values()
    assert run["conclusion"] == "failure" and "Binder Error" in run["output"]["title"]
    with pytest.raises(RuntimeError, match="crashed"):
        sync(lakehouse, github_reporter(), Broken({}), pr=8)
    last = list(github.check_runs.values())[-1]
    assert last["status"] == "completed" and last["conclusion"] == "failure"
    assert "the build step crashed" in last["output"]["title"]


class TrinoDown(PointerDiffer):
    def diff(self, lakehouse: Lakehouse, *, base: str, head: str, keys: dict[str, list[str]] | None = None,  # type: ignore[no-untyped-def]
             **_: object):
        raise BackendError("Trino query failed: connection refused", hint="is Trino up?")


def test_a_backend_error_in_the_diff_replaces_the_last_report_on_the_pr(
    lakehouse: Lakehouse, github: FakeGitHub
) -> None:
    sync(lakehouse, github_reporter(), TableBuilder({"mart.orders": rows(3)}))
    [passed] = github.bodies(7)
    assert "passed" in passed.splitlines()[1]
    with pytest.raises(BackendError, match="connection refused"):
        PullRequests(lakehouse, github_reporter(), builder=TableBuilder({"mart.orders": rows(4)}),
                     differ=TrinoDown()).sync(7, SHA, PROJECT)
    [failed] = github.bodies(7)  # the one sticky comment, edited: not the previous run's report
    assert failed.startswith(MARKER) and "failed" in failed.splitlines()[1]
    assert "the diff step failed" in failed and "BackendError: Trino query failed: connection refused" in failed
    assert "main was not changed" in failed
    last = list(github.check_runs.values())[-1]
    assert last["conclusion"] == "failure" and "the diff step failed" in last["output"]["title"]
    assert "mart.orders" not in lakehouse.catalog.tables("main")


def test_without_check_permission_a_commit_status_is_set(lakehouse: Lakehouse, github: FakeGitHub) -> None:
    github.checks_forbidden = True
    sync(lakehouse, github_reporter(), TableBuilder({"mart.orders": rows(3)}))
    assert not github.check_runs
    assert [(s["state"], s["context"], s["sha"]) for s in github.statuses] == [
        ("pending", CHECK_NAME, SHA), ("success", CHECK_NAME, SHA)]
    assert len(github.statuses[-1]["description"]) <= 140
    sync(lakehouse, github_reporter(), TableBuilder({"mart.orders": rows(3)}, failed_tests=1))
    assert github.statuses[-1]["state"] == "failure"


@pytest.fixture
def gitlab() -> Iterator[FakeGitLab]:
    fake = FakeGitLab(token="glpat-TESTtoken0123456789SECRET")
    server, thread = serve(fake)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def gitlab_client(fake: FakeGitLab) -> GitLabClient:
    gl = GitLabClient.from_env({"BRANCHOPS_GITLAB_TOKEN": fake.token, "CI_API_V4_URL": fake.api_url,
                                "CI_PROJECT_ID": fake.project})
    assert gl is not None
    return gl


def test_gitlab_gets_a_running_then_final_commit_status(lakehouse: Lakehouse, gitlab: FakeGitLab) -> None:
    rep = Reporter(None, gitlab=gitlab_client(gitlab), echo=lambda _t: None, env={})
    sync(lakehouse, rep, TableBuilder({"mart.orders": rows(3)}))
    sync(lakehouse, rep, TableBuilder({"mart.orders": rows(3)}, ok=False))
    assert [(s["status"], s["name"], s["sha"]) for s in gitlab.statuses] == [
        ("running", CHECK_NAME, SHA), ("success", CHECK_NAME, SHA), ("running", CHECK_NAME, SHA),
        ("failed", CHECK_NAME, SHA)]
    assert all(gitlab.token not in r.body and gitlab.token not in r.path for r in gitlab.requests)
    assert GitLabClient.from_env({}) is None


def test_a_token_with_neither_permission_does_not_fail_the_sync(lakehouse: Lakehouse, github: FakeGitHub) -> None:
    github.checks_forbidden = github.statuses_forbidden = True
    out = sync(lakehouse, github_reporter(), TableBuilder({"mart.orders": rows(3)}))
    assert out.status is Status.PASSED and not github.check_runs and not github.statuses
    assert [r.method for r in github.requests if "/statuses/" in r.path] == ["POST"]  # tried once, then left
