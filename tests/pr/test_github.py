"""The GitHub client against a local server replaying recorded GitHub payloads."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from github_server import FakeGitHub, payload
from helpers import TOKEN

from branchops.errors import BackendError
from branchops.pr.github import (
    MARKER,
    MAX_COMMENT_BYTES,
    GitHubClient,
    Review,
    append_step_summary,
    approvers,
    run_url,
    write_outputs,
)

NEW = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
OLD = "9fceb02d0ae598e95dc970b74767f19372d61af8"


def client() -> GitHubClient:
    gh = GitHubClient.from_env(client=httpx.Client(timeout=10))
    assert gh is not None
    return gh


def test_from_env_is_none_outside_github(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    assert GitHubClient.from_env() is None


def test_sticky_comment_is_created_once_then_edited(github: FakeGitHub) -> None:
    github.load_comments(42)
    before = len(github.comments[42])
    gh = client()
    first = gh.upsert_sticky_comment(42, "report v1")
    second = gh.upsert_sticky_comment(42, "report v2")
    third = gh.upsert_sticky_comment(42, f"{MARKER}\nreport v3")
    ours = [b for b in github.bodies(42) if MARKER in b]
    assert len(github.comments[42]) == before + 1 and len(ours) == 1
    assert first.id == second.id == third.id
    assert ours[0] == f"{MARKER}\nreport v3"
    methods = [(r.method, r.path.split("?")[0].rsplit("/", 1)[-1]) for r in github.requests]
    assert [m for m, _ in methods].count("POST") == 1 and [m for m, _ in methods].count("PATCH") == 2
    # the comment list was paged through (page size 2 on the server, 4 comments at first)
    assert any("page=2" in r.path for r in github.requests)


def test_marker_on_a_later_page_is_found(github: FakeGitHub) -> None:
    github.load_comments(7)
    github.comments[7].append({**payload("issue_comment_created.json"), "id": 99, "body": f"{MARKER}\nold"})
    github.comments[7] += payload("issue_comments_page2.json")
    client().upsert_sticky_comment(7, "new")
    assert [c["body"] for c in github.comments[7] if c["id"] == 99] == [f"{MARKER}\nnew"]
    assert not [r for r in github.requests if r.method == "POST"]


def test_comment_is_cut_at_githubs_limit(github: FakeGitHub) -> None:
    body = "é" * 70_000  # 140,000 bytes
    client().upsert_sticky_comment(3, body)
    posted = github.bodies(3)[0]
    assert len(posted.encode()) <= MAX_COMMENT_BYTES
    assert posted.startswith(MARKER) and "cut at GitHub's comment limit" in posted


def test_approvers_follow_each_reviewers_latest_position(github: FakeGitHub) -> None:
    github.reviews[42] = payload("pull_reviews.json")
    gh = client()
    # octocat approved only an older sha; lisa approved then requested changes; sam was dismissed;
    # dana approved and then only commented, which does not withdraw an approval.
    assert gh.approvers(42, NEW) == ["dana"]
    assert gh.approvers(42, OLD) == ["octocat"]
    github.reviews[42] = payload("pull_reviews_no_approval.json")
    assert gh.approvers(42, NEW) == []


def test_approval_of_another_sha_then_changes_requested_blocks() -> None:
    reviews = [Review.from_api(r) for r in payload("pull_reviews.json")]
    later = Review(1, "dana", reviews[0].state.__class__("CHANGES_REQUESTED"), OLD, "2024-05-03T00:00:00Z")
    assert approvers([*reviews, later], NEW) == []


def test_errors_name_the_status_and_never_the_token(github: FakeGitHub) -> None:
    github.fail_with = 403
    with pytest.raises(BackendError) as err:
        client().upsert_sticky_comment(42, f"token is {TOKEN}")
    text = str(err.value) + repr(err.value) + json.dumps(err.value.to_dict())
    assert "403" in text and "Resource not accessible" in text
    assert TOKEN not in text


def test_unreachable_server_error_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    gh = GitHubClient("octo-org/analytics", TOKEN, api_url=f"http://{TOKEN}:{TOKEN}@127.0.0.1:9")
    with pytest.raises(BackendError) as err:
        gh.list_reviews(1)
    assert TOKEN not in str(err.value)
    assert TOKEN not in repr(gh)


def test_token_travels_only_in_the_header(github: FakeGitHub) -> None:
    github.load_comments(42)
    client().upsert_sticky_comment(42, f"the token {TOKEN} leaked into a report")
    for r in github.requests:
        assert r.headers["authorization"] == f"Bearer {TOKEN}"
        assert TOKEN not in r.path and TOKEN not in r.body
    assert all(TOKEN not in b for b in github.bodies(42))


def test_actions_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out, summary = tmp_path / "out", tmp_path / "summary.md"
    process_out = tmp_path / "process_out"  # the runner's own file: an explicit env must not reach it
    monkeypatch.setenv("GITHUB_OUTPUT", str(process_out))
    env = {"GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary)}
    assert write_outputs({"branch": "pr-4", "status": "passed", "notes": "a\nb"}, env)
    assert append_step_summary("# hi", env) and append_step_summary("# again", env)
    lines = out.read_text().splitlines()
    assert lines[:2] == ["branch=pr-4", "status=passed"]
    assert lines[2].startswith("notes<<") and lines[3:5] == ["a", "b"] and lines[5] == lines[2][len("notes<<"):]
    assert summary.read_text() == "# hi\n# again\n"
    assert not write_outputs({"a": "b"}, {})
    assert run_url({"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "12"}) \
        == "https://github.com/o/r/actions/runs/12"
    assert run_url({}) is None
    assert not process_out.exists()
    assert write_outputs({"a": "b"})  # without env: the process's $GITHUB_OUTPUT
    assert process_out.read_text() == "a=b\n"
