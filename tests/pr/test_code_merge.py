"""Code and data land together (``pr merge --merge-code``) against local GitHub / GitLab servers
replaying recorded payloads: a refused code merge puts main's tables back as they were with
nothing lost, a successful one lands both, and a re-run after a crash between the two finishes
or undoes (kill -9 of the real CLI while GitHub holds the code merge)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from github_server import FakeGitHub, serve
from gitlab_server import FakeGitLab
from helpers import TOKEN, PointerDiffer, TableBuilder, rows

from branchops.config import load_settings
from branchops.errors import BackendError
from branchops.lakehouse import Lakehouse
from branchops.pr import PullRequests, Reporter, Status
from branchops.pr.code_merge import UNDO_OP, undo_merge
from branchops.pr.github import MARKER, MERGE_MARKER, CodeMerge, GitHubClient
from branchops.pr.gitlab import GitLabClient
from branchops.pr.model import MERGE_OP
from branchops.project_init import init_project

SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
MOVED = "9fceb02d0ae598e95dc970b74767f19372d61af8"
PROJECT = Path("unused-by-the-table-builder")


def prs(lh: Lakehouse, reporter: Reporter, table: str = "mart.orders", n: int = 3) -> PullRequests:
    return PullRequests(lh, reporter, builder=TableBuilder({table: rows(n, 7)}), differ=PointerDiffer())


def github_reporter() -> Reporter:
    gh = GitHubClient.from_env()
    assert gh is not None
    return Reporter(gh, env={})


def ops(lh: Lakehouse, pr: int) -> list[str]:
    """The PR's merge and undo commits on main, oldest first."""
    return [str(c.properties.get("branchops.operation")) for c in reversed(lh.catalog.log("main"))
            if c.properties.get("branchops.pr") == str(pr)]


def refs(lh: Lakehouse) -> set[str]:
    return {r.name for r in lh.catalog.list_refs()}


def test_both_land(lakehouse: Lakehouse, github: FakeGitHub) -> None:
    github.open_pull(5, SHA)
    p = prs(lakehouse, github_reporter())
    p.sync(5, SHA, PROJECT)
    out = p.merge(5, SHA, merge_code=True)
    assert out.status is Status.MERGED and out.exit_code == 0
    assert out.code == {"merged": True, "status": 200, "message": "Pull Request successfully merged",
                        "sha": "3d4f2f1c8e5b0a9d7c6b5a4f3e2d1c0b9a8f7e6d"}
    put = next(r for r in github.requests if r.method == "PUT")
    assert put.path.endswith("/pulls/5/merge") and json.loads(put.body)["sha"] == SHA  # pinned to the sha
    assert github.pulls[5]["merged"] is True
    assert sorted(lakehouse.read("mart.orders").column("amount").to_pylist()) == [7, 14, 21]
    assert ops(lakehouse, 5) == [MERGE_OP] and "pr-5" not in refs(lakehouse)
    # the PR report stays; how the merge ended is a second sticky comment
    bodies = github.bodies(5)
    assert len(bodies) == 2 and MARKER in bodies[0] and MERGE_MARKER in bodies[1] and MARKER not in bodies[1]
    again = p.merge(5, SHA, merge_code=True)
    assert again.status is Status.ALREADY_MERGED and again.code and again.code["merged"]


@pytest.mark.parametrize(("refusal", "status", "why"), [
    ("pull_merge_405.json", 405, "not mergeable"),
    ("pull_merge_405_checks.json", 405, "is failing"),
    (None, 409, "Head branch was modified"),  # the PR's head moved past the validated sha
])
def test_a_refused_code_merge_undoes_the_data_merge_and_loses_nothing(
    lakehouse: Lakehouse, github: FakeGitHub, refusal: str | None, status: int, why: str
) -> None:
    github.open_pull(6, SHA if refusal else MOVED)
    github.refuse_merge = refusal
    p = prs(lakehouse, github_reporter())
    p.sync(6, SHA, PROJECT)
    before, before_hash = lakehouse.catalog.tables("main"), lakehouse.catalog.get_ref("main").hash
    pr_tables = lakehouse.catalog.tables("pr-6")
    out = p.merge(6, SHA, merge_code=True)
    assert out.status is Status.REFUSED and out.exit_code == 1
    assert f"({status}: " in str(out.reason) and why in str(out.reason) and "undone" in str(out.reason)
    # main's tables are exactly as at its previous hash; merge and undo stay in the log
    assert lakehouse.catalog.tables("main") == before == lakehouse.catalog.tables(f"@{before_hash}")
    assert ops(lakehouse, 6) == [MERGE_OP, UNDO_OP]
    undo = lakehouse.catalog.log("main", limit=1)[0]
    assert undo.hash == out.hash and undo.properties["branchops.reset_to"] == before_hash
    assert json.loads(undo.properties["branchops.pr.code_merge"])["status"] == status
    # nothing lost: the PR branch and its validation are kept, and the comment says why
    assert lakehouse.catalog.tables("pr-6") == pr_tables
    assert p.status(6).status is Status.PASSED
    merge_comment = next(b for b in github.bodies(6) if MERGE_MARKER in b)
    assert why in merge_comment and "undone" in merge_comment
    assert all(TOKEN not in b for b in github.bodies(6))
    # once GitHub accepts, a re-run lands both
    github.refuse_merge = None
    github.pulls[6]["head"]["sha"] = SHA
    out = p.merge(6, SHA, merge_code=True)
    assert out.status is Status.MERGED and github.pulls[6]["merged"] is True
    assert ops(lakehouse, 6) == [MERGE_OP, UNDO_OP, MERGE_OP]
    assert sorted(lakehouse.read("mart.orders").column("amount").to_pylist()) == [7, 14, 21]


def test_merge_code_without_a_forge_refuses_before_merging_data(lakehouse: Lakehouse, reporter: Reporter) -> None:
    p = prs(lakehouse, reporter)
    p.sync(9, SHA, PROJECT)
    head = lakehouse.catalog.get_ref("main").hash
    out = p.merge(9, SHA, merge_code=True)
    assert out.status is Status.REFUSED and "--merge-code needs GitHub" in str(out.reason)
    assert lakehouse.catalog.get_ref("main").hash == head and "pr-9" in refs(lakehouse)


def test_undo_keeps_later_merges_and_refuses_to_guess(lakehouse: Lakehouse, reporter: Reporter) -> None:
    a = prs(lakehouse, reporter, "mart.a")
    a.sync(11, SHA, PROJECT)
    merged = a.merge(11, SHA)
    lakehouse.ingest("raw.customers", rows(2), mode="append")  # main moves on another table
    later = lakehouse.catalog.tables("main")
    refused = CodeMerge(False, 405, "Pull Request is not mergeable")
    undo_merge(lakehouse.catalog, "main", lakehouse.catalog.get_commit(str(merged.hash)), refused)
    now = lakehouse.catalog.tables("main")
    assert "mart.a" not in now and now["raw.customers"] == later["raw.customers"]
    b = prs(lakehouse, reporter, "raw.orders")
    b.sync(12, SHA, PROJECT)
    merged = b.merge(12, SHA)
    lakehouse.ingest("raw.orders", rows(1), mode="append")  # the same table moves after the merge
    head = lakehouse.catalog.get_ref("main").hash
    with pytest.raises(BackendError, match=r"cannot be undone: raw\.orders changed on main"):
        undo_merge(lakehouse.catalog, "main", lakehouse.catalog.get_commit(str(merged.hash)), refused)
    assert lakehouse.catalog.get_ref("main").hash == head


def test_gitlab_merge_request_merge_api(lakehouse: Lakehouse) -> None:
    fake = FakeGitLab(token="glpat-TESTtoken0123456789SECRET")
    server, thread = serve(fake)
    try:
        gl = GitLabClient(fake.api_url, fake.project, fake.token)
        p = prs(lakehouse, Reporter(None, gitlab=gl, echo=lambda _t: None, env={}))
        fake.open_mr(13, MOVED)
        p.sync(13, SHA, PROJECT)
        before = lakehouse.catalog.tables("main")
        out = p.merge(13, SHA, merge_code=True)
        assert out.status is Status.REFUSED and "GitLab refused" in str(out.reason) and "SHA does not match" in str(
            out.reason)
        assert lakehouse.catalog.tables("main") == before
        fake.merge_requests[13]["sha"] = SHA
        out = p.merge(13, SHA, merge_code=True)
        assert out.status is Status.MERGED and fake.merge_requests[13]["state"] == "merged"
        put = [r for r in fake.requests if r.method == "PUT"][-1]
        assert put.path == "/api/v4/projects/123/merge_requests/13/merge" and json.loads(put.body)["sha"] == SHA
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# -- a crash between the data merge and the code merge, through the real CLI -----------------------
@pytest.fixture
def cli_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, github: FakeGitHub) -> Iterator[Path]:
    for var in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_RUN_ID"):
        monkeypatch.delenv(var, raising=False)
    init_project(tmp_path / "lh")
    monkeypatch.setenv("BRANCHOPS_CONFIG", str(tmp_path / "lh" / "branchops.toml"))
    with Lakehouse(load_settings()) as lh:
        lh.ingest("raw.orders", rows(10))
    yield tmp_path / "lh"


def merge_cli(pr: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "branchops", "pr", "merge", "--pr", str(pr), "--sha", SHA,
                             "--merge-code", "-o", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ))


def killed_between(github: FakeGitHub, pr: int, hold: str) -> dict[str, str]:
    """Validate ``pr``, run `pr merge --merge-code` and kill -9 it while GitHub holds the code merge."""
    with Lakehouse(load_settings()) as lh:
        prs(lh, Reporter(None, echo=lambda _t: None, env={}), f"mart.t{pr}").sync(pr, SHA, PROJECT)
        before = lh.catalog.tables("main")
    github.open_pull(pr, SHA)
    github.hold_merge, github.merge_release, github.merge_arrived = hold, type(github.merge_release)(), \
        type(github.merge_arrived)()
    proc = merge_cli(pr)
    assert github.merge_arrived.wait(120), proc.communicate()
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    github.merge_release.set()
    with Lakehouse(load_settings()) as lh:
        assert set(lh.catalog.tables("main")) == set(before) | {f"mart.t{pr}"}  # the data merge had landed
    return before


def rerun(pr: int) -> dict[str, object]:
    out, err = merge_cli(pr).communicate(timeout=120)
    assert out.strip(), err
    data: dict[str, object] = json.loads(out)
    return data


def test_crash_between_the_merges_is_finished_or_undone_by_a_rerun(cli_project: Path, github: FakeGitHub) -> None:
    # GitHub merged the code, the client died before the answer: the re-run finishes
    killed_between(github, 21, "after")
    done = rerun(21)
    assert done["status"] == "already_merged" and github.pulls[21]["merged"] is True
    # the client died before GitHub merged: the re-run merges the code now
    github.drop_held = True
    killed_between(github, 22, "before")
    assert github.pulls[22]["merged"] is False
    done = rerun(22)
    assert done["status"] == "already_merged" and github.pulls[22]["merged"] is True
    # ... or, when GitHub now refuses (the head moved), undoes the data merge
    before = killed_between(github, 23, "before")
    github.pulls[23]["head"]["sha"] = MOVED
    undone = rerun(23)
    assert undone["status"] == "refused" and "409" in str(undone["reason"])
    with Lakehouse(load_settings()) as lh:
        assert lh.catalog.tables("main") == before | {k: v for k, v in lh.catalog.tables("main").items()
                                                      if k in ("mart.t21", "mart.t22")}
        assert "mart.t23" not in lh.catalog.tables("main") and "pr-23" in refs(lh)
        assert {"pr-21", "pr-22"}.isdisjoint(refs(lh))
        assert [ops(lh, pr) for pr in (21, 22, 23)] == [[MERGE_OP], [MERGE_OP], [MERGE_OP, UNDO_OP]]
