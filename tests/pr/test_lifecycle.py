"""The PR state machine on a real embedded lakehouse: sync, gates, merge paths, close, status.

Build and diff steps are the small plug-ins of helpers.py; test_e2e_dbt.py runs real dbt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from github_server import FakeGitHub, payload
from helpers import TOKEN, PointerDiffer, TableBuilder, rows

from branchops.lakehouse import Lakehouse
from branchops.pr import OnConflict, PullRequests, Reporter, Status
from branchops.pr.github import MARKER, GitHubClient

SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
SHA2 = "0123456789abcdef0123456789abcdef01234567"
PROJECT = Path("unused-by-the-table-builder")


def prs(lh: Lakehouse, reporter: Reporter, builder: TableBuilder) -> PullRequests:
    return PullRequests(lh, reporter, builder=builder, differ=PointerDiffer())


def read(lh: Lakehouse, table: str, ref: str) -> list[int]:
    return sorted(lh.read(table, ref).column("amount").to_pylist())


def test_sync_builds_records_and_reports(lakehouse: Lakehouse, reporter: Reporter, printed: list[str]) -> None:
    main_before = lakehouse.catalog.tables("main")
    out = prs(lakehouse, reporter, TableBuilder({"mart.orders": rows(3, 10)})).sync(1, SHA, PROJECT)
    assert out.status is Status.PASSED and out.exit_code == 0
    assert out.changed_tables == ["mart.orders"]
    head = lakehouse.catalog.log("pr-1", limit=1)[0]
    assert head.changes == () and head.properties["branchops.pr.sha"] == SHA
    assert head.properties["branchops.pr.base_hash"] == lakehouse.catalog.merge_base("main", "pr-1")
    assert json.loads(head.properties["branchops.pr.diff_summary"])["mart.orders"]["head"] == 3
    assert lakehouse.catalog.tables("main") == main_before  # nothing reached main
    assert printed and printed[0].startswith(MARKER) and "mart.orders" in printed[0]
    assert "Revenue dashboard" in printed[0]


def test_failed_build_or_tests_exit_1_and_leave_the_branch_at_the_base(
    lakehouse: Lakehouse, reporter: Reporter
) -> None:
    out = prs(lakehouse, reporter, TableBuilder({"mart.orders": rows(3)}, ok=False)).sync(2, SHA, PROJECT)
    assert out.status is Status.FAILED and out.exit_code == 1 and "Binder Error" in (out.reason or "")
    assert lakehouse.catalog.tables("pr-2") == lakehouse.catalog.tables("main")
    out = prs(lakehouse, reporter, TableBuilder({"mart.orders": rows(3)}, failed_tests=1)).sync(2, SHA, PROJECT)
    assert out.status is Status.FAILED and out.validation and out.validation["tests"] == "failed"


def test_new_push_starts_from_a_fresh_fork_of_the_current_base(lakehouse: Lakehouse, reporter: Reporter) -> None:
    p = prs(lakehouse, reporter, TableBuilder({"mart.orders": rows(3)}))
    p.sync(3, SHA, PROJECT)
    lakehouse.ingest("raw.customers", rows(7), mode="overwrite")  # main moves
    p.builder = TableBuilder({"mart.items": rows(2)})
    out = p.sync(3, SHA2, PROJECT)
    tables = lakehouse.catalog.tables("pr-3")
    assert "mart.orders" not in tables and "mart.items" in tables  # the old push's build is gone
    assert tables["raw.customers"] == lakehouse.catalog.tables("main")["raw.customers"]
    assert out.validation and out.validation["base_hash"] == lakehouse.catalog.get_ref("main").hash


def test_merge_lands_atomically_with_audit_and_can_be_rolled_back(
    lakehouse: Lakehouse, reporter: Reporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "octo-org/analytics")
    monkeypatch.setenv("GITHUB_RUN_ID", "777")
    p = prs(lakehouse, reporter, TableBuilder({"mart.orders": rows(3, 10), "raw.orders": rows(4, 2)}))
    p.sync(4, SHA, PROJECT)
    before = lakehouse.catalog.get_ref("main").hash
    out = p.merge(4, SHA)
    assert out.status is Status.MERGED and out.exit_code == 0
    assert read(lakehouse, "mart.orders", "main") == [10, 20, 30]
    c = lakehouse.catalog.log("main", limit=1)[0]
    assert c.hash == out.hash and c.properties["branchops.pr"] == "4" and c.properties["branchops.pr.sha"] == SHA
    assert c.properties["branchops.previous_hash"] == before
    assert c.properties["branchops.pr.run_url"] == "https://github.com/octo-org/analytics/actions/runs/777"
    assert {ch.table for ch in c.changes} == {"mart.orders", "raw.orders"}
    assert "pr-4" not in [r.name for r in lakehouse.catalog.list_refs()]
    # re-running after success is harmless
    again = p.merge(4, SHA)
    assert again.status is Status.ALREADY_MERGED and again.exit_code == 0
    assert lakehouse.catalog.get_ref("main").hash == out.hash
    assert p.status(4).status is Status.MERGED
    # one-step rollback
    lakehouse.catalog.reset("main", before)
    assert "mart.orders" not in lakehouse.catalog.tables("main") and read(lakehouse, "raw.orders", "main") == list(
        range(1, 11))


@pytest.mark.parametrize("gate", ["wrong_sha", "failed", "written_after", "no_branch", "no_github"])
def test_gates_refuse_with_a_reason_and_change_nothing(lakehouse: Lakehouse, reporter: Reporter, gate: str) -> None:
    p = prs(lakehouse, reporter, TableBuilder({"mart.orders": rows(3)}, failed_tests=1 if gate == "failed" else 0))
    if gate != "no_branch":
        p.sync(5, SHA, PROJECT)
    if gate == "written_after":
        lakehouse.ingest("raw.orders", rows(1), branch="pr-5")
    before = lakehouse.catalog.get_ref("main").hash
    out = p.merge(5, SHA2 if gate == "wrong_sha" else SHA, require_approval=gate == "no_github")
    assert out.status is Status.REFUSED and out.exit_code == 1
    assert {"wrong_sha": "not 012345", "failed": "failed", "written_after": "written after",
            "no_branch": "pr sync", "no_github": "GITHUB_TOKEN"}[gate] in (out.reason or "")
    assert lakehouse.catalog.get_ref("main").hash == before


def test_approval_gate_reads_reviews_of_exactly_that_sha(lakehouse: Lakehouse, github: FakeGitHub) -> None:
    github.reviews[6] = payload("pull_reviews_no_approval.json")
    gh = GitHubClient.from_env()
    assert gh is not None
    rep = Reporter(gh, env={})
    p = prs(lakehouse, rep, TableBuilder({"mart.orders": rows(3)}))
    p.sync(6, SHA, PROJECT)
    assert [MARKER in b for b in github.bodies(6)] == [True]
    refused = p.merge(6, SHA, require_approval=True)
    assert refused.status is Status.REFUSED and "no approving review" in (refused.reason or "")
    github.reviews[6] = payload("pull_reviews.json")
    out = p.merge(6, SHA, require_approval=True)
    assert out.status is Status.MERGED
    c = lakehouse.catalog.get_commit(str(out.hash))
    assert json.loads(c.properties["branchops.pr.approvers"]) == ["dana"]
    assert all(TOKEN not in json.dumps(cm.properties) for cm in lakehouse.catalog.log("main"))
    assert len(github.bodies(6)) == 1  # the merge did not add a comment


def test_base_moved_on_other_tables_merges_three_way(lakehouse: Lakehouse, reporter: Reporter) -> None:
    p = prs(lakehouse, reporter, TableBuilder({"mart.orders": rows(3, 10)}))
    p.sync(7, SHA, PROJECT)
    lakehouse.ingest("raw.customers", rows(2, 100), mode="overwrite")
    out = p.merge(7, SHA)
    assert out.status is Status.MERGED
    assert read(lakehouse, "mart.orders", "main") == [10, 20, 30]
    assert read(lakehouse, "raw.customers", "main") == [100, 200]


def test_conflict_fail_names_the_tables_and_changes_nothing(lakehouse: Lakehouse, reporter: Reporter) -> None:
    p = prs(lakehouse, reporter, TableBuilder({"raw.orders": rows(3, 10)}))
    p.sync(8, SHA, PROJECT)
    lakehouse.ingest("raw.orders", rows(2, 100), mode="overwrite")
    before = lakehouse.catalog.get_ref("main").hash
    out = p.merge(8, SHA, on_conflict=OnConflict.FAIL)
    assert out.status is Status.CONFLICT and out.exit_code == 1 and out.conflicts == ["raw.orders"]
    assert "raw.orders" in (out.reason or "")
    assert lakehouse.catalog.get_ref("main").hash == before
    assert p.status(8).status is Status.PASSED  # the branch is kept for a rebuild


def test_conflict_rebuild_reforks_rebuilds_and_merges(lakehouse: Lakehouse, reporter: Reporter) -> None:
    # the "model" derives from main's raw.orders, so a rebuild on the new main gives a new result
    def build() -> dict[str, object]:
        n = lakehouse.read("raw.orders", "main").num_rows
        return {"raw.orders": rows(n + 1, 10), "mart.orders": rows(n, 3)}

    builder = TableBuilder(build)  # type: ignore[arg-type]
    p = prs(lakehouse, reporter, builder)
    p.sync(9, SHA, PROJECT)
    lakehouse.ingest("raw.orders", rows(2, 100), mode="overwrite")
    out = p.merge(9, SHA, on_conflict=OnConflict.REBUILD, project_dir=PROJECT)
    assert out.status is Status.MERGED, out.reason
    assert builder.calls == ["pr-9", "pr-9"] and out.merge and out.merge["rebuilds"] == 1
    assert read(lakehouse, "raw.orders", "main") == [10, 20, 30]  # built on the 2-row main
    assert read(lakehouse, "mart.orders", "main") == [3, 6]


def test_rebuild_needs_a_project_dir(lakehouse: Lakehouse, reporter: Reporter) -> None:
    from branchops.errors import UsageError

    with pytest.raises(UsageError):
        prs(lakehouse, reporter, TableBuilder({})).merge(1, SHA, on_conflict=OnConflict.REBUILD)


def test_close_is_idempotent_and_status_follows(lakehouse: Lakehouse, reporter: Reporter) -> None:
    p = prs(lakehouse, reporter, TableBuilder({"mart.orders": rows(3)}))
    p.sync(10, SHA, PROJECT)
    st = p.status(10)
    assert st.status is Status.PASSED and st.changed_tables == ["mart.orders"]
    assert p.close(10).status is Status.CLOSED
    again = p.close(10)
    assert again.status is Status.NOT_FOUND and again.exit_code == 0
    assert p.status(10).status is Status.NOT_FOUND


def test_outputs_for_github_actions(lakehouse: Lakehouse, tmp_path: Path) -> None:
    env = {"GITHUB_OUTPUT": str(tmp_path / "o"), "GITHUB_STEP_SUMMARY": str(tmp_path / "s")}
    p = prs(lakehouse, Reporter(None, echo=lambda _t: None, env=env), TableBuilder({"mart.orders": rows(3)}))
    p.sync(11, SHA, PROJECT)
    out = (tmp_path / "o").read_text().splitlines()
    assert out == ["branch=pr-11", "status=passed", 'changed_tables=["mart.orders"]']
    assert (tmp_path / "s").read_text().startswith(MARKER)
