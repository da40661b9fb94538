"""GitHub, from a CI job: one sticky PR comment, the reviews behind the approval gate, the
``branchops`` check run on the PR's head (a commit status when the token may not create check
runs), the code merge pinned to the validated sha, and the files GitHub Actions reads back
($GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY).

A small typed client of GitHub's REST API over ``httpx``; tests hand it an ``httpx.Client`` that
talks to a local server replaying recorded payloads. The token lives only in the request header:
it is registered with :func:`branchops.secrets.register_secret`, and every error message is
redacted, so it never reaches output, logs, errors or comments.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from branchops import text_fit
from branchops.diff.model import MAX_COMMENT_BYTES
from branchops.errors import BackendError, ConfigError
from branchops.secrets import redact, register_secret

if TYPE_CHECKING:
    import httpx  # imported when a client is made: a local run (no token) never needs it

#: The hidden marker that makes a comment "ours": found on every sync and edited in place.
MARKER = "<!-- branchops:pr-report -->"
#: the marker of the second sticky comment: how `pr merge --merge-code` ended (the report stays)
MERGE_MARKER = "<!-- branchops:pr-merge -->"
DEFAULT_API_URL = "https://api.github.com"
#: the name of the check run (and the context of the commit status) branch protection can require
CHECK_NAME = "branchops"
#: GitHub cuts a commit status description at this many characters
MAX_STATUS_DESCRIPTION = 140
_NEXT_LINK = re.compile(r'<([^>]+)>;\s*rel="next"')


class ReviewState(StrEnum):
    APPROVED = "APPROVED"
    CHANGES_REQUESTED = "CHANGES_REQUESTED"
    COMMENTED = "COMMENTED"
    DISMISSED = "DISMISSED"
    PENDING = "PENDING"


@dataclass(frozen=True)
class IssueComment:
    id: int
    body: str
    user: str
    html_url: str

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> IssueComment:
        return cls(int(data["id"]), str(data.get("body") or ""), _login(data), str(data.get("html_url") or ""))


@dataclass(frozen=True)
class Review:
    id: int
    user: str
    state: ReviewState
    commit_id: str
    submitted_at: str

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Review:
        return cls(
            int(data["id"]), _login(data), ReviewState(str(data["state"])), str(data.get("commit_id") or ""),
            str(data.get("submitted_at") or ""),
        )


@dataclass(frozen=True)
class CodeMerge:
    """How the forge answered a request to merge the PR's code: merged, or refused and why.

    ``status`` is the HTTP status; a refusal is any 4xx answer (not mergeable, the head moved,
    checks failing, no permission): GitHub or GitLab said no, so nothing of the code landed.
    """

    merged: bool
    status: int
    message: str
    sha: str | None = None  # the merge commit in git, when merged

    def to_dict(self) -> dict[str, Any]:
        return {"merged": self.merged, "status": self.status, "message": self.message, "sha": self.sha}


@dataclass(frozen=True)
class Check:
    """The check run (``kind="check_run"``, with its id) or commit status a sync reports on."""

    kind: str
    sha: str
    id: int | None = None


def _login(data: Mapping[str, Any]) -> str:
    user = data.get("user") or {}
    return str(user.get("login") or "")


def approvers(reviews: Sequence[Review], sha: str) -> list[str]:
    """Reviewers who approved exactly ``sha`` and have not requested changes since.

    A reviewer's standing is their latest review that takes a position (APPROVED,
    CHANGES_REQUESTED or DISMISSED); plain comments after an approval do not withdraw it.
    """
    latest: dict[str, Review] = {}
    approved_sha: set[str] = set()
    for r in sorted(reviews, key=lambda r: (r.submitted_at, r.id)):
        if r.state in (ReviewState.APPROVED, ReviewState.CHANGES_REQUESTED, ReviewState.DISMISSED):
            latest[r.user] = r
        if r.state is ReviewState.APPROVED and r.commit_id == sha:
            approved_sha.add(r.user)
    return sorted(u for u in approved_sha if latest[u].state is ReviewState.APPROVED)


class GitHubClient:
    """The few REST calls branchops makes, for one repository."""

    def __init__(
        self,
        repository: str,
        token: str,
        *,
        api_url: str = DEFAULT_API_URL,
        client: httpx.Client | None = None,
    ) -> None:
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
            raise ConfigError(f"GITHUB_REPOSITORY must be owner/name, not {repository!r}")
        register_secret(token)
        self.repository = repository
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._owns_client = client is None
        if client is None:
            import httpx

            client = httpx.Client(timeout=30.0)
        self._client = client

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, client: httpx.Client | None = None) -> GitHubClient | None:
        """A client when ``GITHUB_TOKEN`` and ``GITHUB_REPOSITORY`` are set, else None (a local run)."""
        env = os.environ if env is None else env
        token, repo = env.get("GITHUB_TOKEN"), env.get("GITHUB_REPOSITORY")
        if not token or not repo:
            return None
        return cls(repo, token, api_url=env.get("GITHUB_API_URL") or DEFAULT_API_URL, client=client)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __repr__(self) -> str:  # never the token
        return redact(f"GitHubClient({self.repository!r}, api_url={self.api_url!r})")

    # -- transport ------------------------------------------------------------------------
    def _request(
        self, method: str, url: str, body: Mapping[str, Any] | None = None, *, answers: tuple[int, ...] = ()
    ) -> httpx.Response:
        """One API call; an HTTP error raises BackendError unless its status is in ``answers``."""
        if not url.startswith(("http://", "https://")):
            url = f"{self.api_url}/repos/{self.repository}/{url.lstrip('/')}"
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "branchops",
        }
        import httpx

        try:
            resp = self._client.request(method, url, headers=headers, json=body)
        except httpx.HTTPError as e:
            raise BackendError(
                redact(f"GitHub API {method} {url} failed: {type(e).__name__}: {e}"),
                unchanged="nothing was posted to GitHub",
                hint="check GITHUB_API_URL and the network, then re-run",
            ) from None
        if resp.status_code >= 400 and resp.status_code not in answers:
            try:
                detail = str(resp.json().get("message", ""))
            except (ValueError, AttributeError):
                detail = resp.text[:200]
            raise BackendError(
                redact(f"GitHub API {method} {url} answered {resp.status_code}: {detail}"),
                unchanged="nothing more was posted to GitHub",
                hint="check GITHUB_TOKEN's permissions (the template grants pull-requests: write for the "
                "comment and reviews, checks: write and statuses: write for the check, contents: write "
                "for --merge-code)",
            )
        return resp

    def _paginate(self, path: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        url: str | None = f"{path}?per_page=100"
        while url:
            resp = self._request("GET", url)
            page = resp.json()
            if not isinstance(page, list):
                raise BackendError(redact(f"GitHub API GET {path} did not return a list"))
            out.extend(page)
            match = _NEXT_LINK.search(resp.headers.get("link", ""))
            url = match.group(1) if match else None
        return out

    # -- comments -------------------------------------------------------------------------
    def list_comments(self, pr: int) -> list[IssueComment]:
        return [IssueComment.from_api(c) for c in self._paginate(f"issues/{int(pr)}/comments")]

    def create_comment(self, pr: int, body: str) -> IssueComment:
        resp = self._request("POST", f"issues/{int(pr)}/comments", {"body": redact(body)})
        return IssueComment.from_api(resp.json())

    def update_comment(self, comment_id: int, body: str) -> IssueComment:
        resp = self._request("PATCH", f"issues/comments/{int(comment_id)}", {"body": redact(body)})
        return IssueComment.from_api(resp.json())

    def upsert_sticky_comment(self, pr: int, body: str, marker: str = MARKER) -> IssueComment:
        """Edit the comment holding ``marker`` (or create it once); the body is cut to GitHub's limit."""
        text = body if marker in body else f"{marker}\n{body}"
        text = text_fit.truncate_utf8(redact(text), MAX_COMMENT_BYTES, "\n\n_… report cut at GitHub's comment limit_\n")
        for comment in self.list_comments(pr):
            if marker in comment.body:
                return self.update_comment(comment.id, text)
        return self.create_comment(pr, text)

    # -- reviews --------------------------------------------------------------------------
    def list_reviews(self, pr: int) -> list[Review]:
        return [Review.from_api(r) for r in self._paginate(f"pulls/{int(pr)}/reviews")]

    def approvers(self, pr: int, sha: str) -> list[str]:
        return approvers(self.list_reviews(pr), sha)

    # -- the required check -----------------------------------------------------------------
    def start_check(self, sha: str, details_url: str | None = None) -> Check:
        """A check run named ``branchops``, in progress, on ``sha``; a pending commit status when
        the token may not create check runs (GitHub answers 403 to anything but a GitHub App)."""
        body: dict[str, Any] = {"name": CHECK_NAME, "head_sha": sha, "status": "in_progress"}
        if details_url:
            body["details_url"] = details_url
        resp = self._request("POST", "check-runs", body, answers=(403,))
        if resp.status_code == 403:
            allowed = self.set_status(sha, "pending", "building and diffing the PR branch", details_url,
                                      answers=(403,))
            # a token with neither permission (a workflow without checks/statuses: write): no check
            return Check("status" if allowed else "none", sha)
        return Check("check_run", sha, int(resp.json()["id"]))

    def finish_check(self, check: Check, ok: bool, title: str, summary: str, details_url: str | None = None) -> None:
        """Complete the check (success or failure) with the report as its summary."""
        if check.kind == "none":
            return
        if check.kind == "status" or check.id is None:
            self.set_status(check.sha, "success" if ok else "failure", title, details_url)
            return
        output = {"title": redact(title)[:1000],
                  "summary": text_fit.truncate_utf8(redact(summary), MAX_COMMENT_BYTES,
                                                    "\n\n_… cut at GitHub's limit_\n")}
        body: dict[str, Any] = {"status": "completed", "conclusion": "success" if ok else "failure", "output": output}
        if details_url:
            body["details_url"] = details_url
        self._request("PATCH", f"check-runs/{int(check.id)}", body)

    def set_status(
        self, sha: str, state: str, description: str, target_url: str | None = None, *, answers: tuple[int, ...] = ()
    ) -> bool:
        """A commit status with context ``branchops`` (state: pending, success, failure, error);
        False when GitHub answered with a status in ``answers`` instead of setting it."""
        text = redact(description)
        if len(text) > MAX_STATUS_DESCRIPTION:
            text = text[: MAX_STATUS_DESCRIPTION - 1] + "…"
        body: dict[str, Any] = {"state": state, "context": CHECK_NAME, "description": text}
        if target_url:
            body["target_url"] = target_url
        return self._request("POST", f"statuses/{sha}", body, answers=answers).status_code < 400

    # -- the code merge -------------------------------------------------------------------
    def merge_pull(self, pr: int, sha: str, title: str, method: str = "merge") -> CodeMerge:
        """Merge PR ``pr`` only if its head is still ``sha`` (GitHub answers 409 otherwise).

        A 4xx answer is a refusal (405 not mergeable or required checks failing, 409 the head
        moved, 403 no permission, 422 invalid): returned, not raised. 5xx and network errors raise
        BackendError: then whether the code landed is unknown, and a re-run finds out.
        """
        resp = self._request("PUT", f"pulls/{int(pr)}/merge",
                             {"sha": sha, "merge_method": method, "commit_title": redact(title)},
                             answers=(401, 403, 404, 405, 409, 422))
        data = json_object(resp)
        if resp.status_code >= 400:
            return CodeMerge(False, resp.status_code, str(data.get("message") or resp.reason_phrase))
        return CodeMerge(bool(data.get("merged", True)), resp.status_code, str(data.get("message") or "merged"),
                         str(data.get("sha") or "") or None)

    def pull_merged(self, pr: int) -> CodeMerge | None:
        """The PR's code merge if it is merged (its merge commit), else None."""
        data = json_object(self._request("GET", f"pulls/{int(pr)}"))
        if not data.get("merged"):
            return None
        return CodeMerge(True, 200, "already merged", str(data.get("merge_commit_sha") or "") or None)


def json_object(resp: httpx.Response) -> dict[str, Any]:
    """The response's JSON object; ``{}`` for a body that is not one (an error page, a list)."""
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


# -- GitHub Actions files ---------------------------------------------------------------------
def write_outputs(values: Mapping[str, str], env: Mapping[str, str] | None = None) -> bool:
    """Append ``name=value`` pairs to ``$GITHUB_OUTPUT`` (multi-line values use a delimiter)."""
    env = os.environ if env is None else env
    path = env.get("GITHUB_OUTPUT")
    if not path:
        return False
    lines: list[str] = []
    for name, value in values.items():
        value = redact(value)
        if "\n" in value:
            delim = f"branchops_{uuid.uuid4().hex}"
            lines += [f"{name}<<{delim}", value, delim]
        else:
            lines.append(f"{name}={value}")
    with Path(path).open("a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return True


def append_step_summary(markdown: str, env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    path = env.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    with Path(path).open("a", encoding="utf-8") as f:
        f.write(redact(markdown).rstrip("\n") + "\n")
    return True


def run_url(env: Mapping[str, str] | None = None) -> str | None:
    """The URL of the running Actions job (``GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/ID``)."""
    env = os.environ if env is None else env
    repo, run = env.get("GITHUB_REPOSITORY"), env.get("GITHUB_RUN_ID")
    if not repo or not run:
        return env.get("CI_PIPELINE_URL") or None  # GitLab
    server = (env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
    return f"{server}/{repo}/actions/runs/{run}"


def outputs_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
