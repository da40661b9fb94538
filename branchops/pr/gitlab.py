"""GitLab, from a CI job: the ``branchops`` commit status on the merge request's head, and the
code merge pinned to the validated sha (the merge request merge API).

Like :mod:`branchops.pr.github`: a small typed client over ``httpx``; tests hand it an
``httpx.Client`` talking to a local server that replays recorded payloads. The token travels
only in the ``PRIVATE-TOKEN`` header, is registered as a secret and redacted from every message.
GitLab's predefined ``CI_JOB_TOKEN`` may not set statuses or merge: give the job a project access
token with the ``api`` scope as ``BRANCHOPS_GITLAB_TOKEN`` (a masked CI/CD variable).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from branchops.errors import BackendError
from branchops.pr.github import CHECK_NAME, MAX_STATUS_DESCRIPTION, Check, CodeMerge, json_object
from branchops.secrets import redact, register_secret

if TYPE_CHECKING:
    import httpx  # imported when a client is made: a local run (no token) never needs it

#: GitLab's answers that refuse a merge: 401/403 no permission, 404 unknown MR, 405 not mergeable
#: (draft, closed, pipeline or approvals missing), 406 conflicts, 409 the sha is not the MR's head,
#: 422 invalid
REFUSALS = (401, 403, 404, 405, 406, 409, 422)
TOKEN_ENV = "BRANCHOPS_GITLAB_TOKEN"


class GitLabClient:
    """The few REST calls branchops makes, for one project (id or ``group/name`` path)."""

    def __init__(self, api_url: str, project: str, token: str, *, client: httpx.Client | None = None) -> None:
        register_secret(token)
        self.api_url = api_url.rstrip("/")
        self.project = project
        self._token = token
        self._owns_client = client is None
        if client is None:
            import httpx

            client = httpx.Client(timeout=30.0)
        self._client = client

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, client: httpx.Client | None = None) -> GitLabClient | None:
        """A client inside a GitLab job with ``BRANCHOPS_GITLAB_TOKEN`` set, else None."""
        env = os.environ if env is None else env
        token, api, project = env.get(TOKEN_ENV), env.get("CI_API_V4_URL"), env.get("CI_PROJECT_ID")
        if not token or not api or not project:
            return None
        return cls(api, project, token, client=client)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __repr__(self) -> str:
        return redact(f"GitLabClient({self.project!r}, api_url={self.api_url!r})")

    def _request(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, *, answers: tuple[int, ...] = ()
    ) -> httpx.Response:
        url = f"{self.api_url}/projects/{quote(self.project, safe='')}/{path.lstrip('/')}"
        import httpx

        try:
            resp = self._client.request(method, url, headers={"PRIVATE-TOKEN": self._token,
                                                              "User-Agent": "branchops"}, json=body)
        except httpx.HTTPError as e:
            raise BackendError(
                redact(f"GitLab API {method} {url} failed: {type(e).__name__}: {e}"),
                unchanged="nothing was posted to GitLab", hint="check CI_API_V4_URL and the network, then re-run",
            ) from None
        if resp.status_code >= 400 and resp.status_code not in answers:
            raise BackendError(
                redact(f"GitLab API {method} {url} answered {resp.status_code}: {_message(resp)}"),
                unchanged="nothing more was posted to GitLab",
                hint=f"check that {TOKEN_ENV} is a project access token with the api scope",
            )
        return resp

    # -- the required check -----------------------------------------------------------------
    def start_check(self, sha: str, details_url: str | None = None) -> Check:
        self.set_status(sha, "running", "building and diffing the merge request's branch", details_url)
        return Check("status", sha)

    def finish_check(self, check: Check, ok: bool, title: str, summary: str, details_url: str | None = None) -> None:
        self.set_status(check.sha, "success" if ok else "failed", title, details_url)

    def set_status(self, sha: str, state: str, description: str, target_url: str | None = None) -> None:
        """A commit status named ``branchops`` (state: pending, running, success, failed, canceled)."""
        text = redact(description)
        if len(text) > MAX_STATUS_DESCRIPTION:
            text = text[: MAX_STATUS_DESCRIPTION - 1] + "…"
        body: dict[str, Any] = {"state": state, "name": CHECK_NAME, "description": text}
        if target_url:
            body["target_url"] = target_url
        self._request("POST", f"statuses/{sha}", body)

    # -- the code merge -------------------------------------------------------------------
    def merge_pull(self, pr: int, sha: str, title: str, method: str = "merge") -> CodeMerge:
        """Merge merge request ``pr`` (its iid) only if its head is still ``sha``; a 4xx is a refusal."""
        resp = self._request("PUT", f"merge_requests/{int(pr)}/merge",
                             {"sha": sha, "merge_commit_message": redact(title),
                              "squash": method == "squash"}, answers=REFUSALS)
        data = json_object(resp)
        if resp.status_code >= 400:
            return CodeMerge(False, resp.status_code, _message(resp))
        merged = data.get("state") == "merged"
        return CodeMerge(merged, resp.status_code, "merged" if merged else f"state {data.get('state')}",
                         str(data.get("merge_commit_sha") or "") or None)

    def pull_merged(self, pr: int) -> CodeMerge | None:
        data = json_object(self._request("GET", f"merge_requests/{int(pr)}"))
        if data.get("state") != "merged":
            return None
        return CodeMerge(True, 200, "already merged", str(data.get("merge_commit_sha") or "") or None)


def _message(resp: httpx.Response) -> str:
    data = json_object(resp)
    msg = data.get("message") or data.get("error") or resp.text[:200]
    return json.dumps(msg) if isinstance(msg, list | dict) else str(msg)
