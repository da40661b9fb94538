"""A local stand-in for GitLab's REST API (v4) replaying recorded payloads (tests/pr/payloads/gitlab_*):
commit statuses per sha, and a merge request that merges once, only at its head sha."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

from github_server import Recorded, payload


@dataclass
class FakeGitLab:
    project: str = "123"
    token: str = ""
    url: str = ""
    statuses: list[dict[str, Any]] = field(default_factory=list)
    merge_requests: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    refuse_merge: str | None = None  # e.g. "gitlab_merge_405.json"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v4"

    def open_mr(self, iid: int, sha: str) -> None:
        self.merge_requests[iid] = copy.deepcopy(payload("gitlab_mr_opened.json")) | {"iid": iid, "sha": sha}

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: str) -> tuple[int, Any, dict[str, str]]:
        self.requests.append(Recorded(method, raw_path, headers, body))
        if headers.get("private-token") != self.token:
            return 401, {"message": "401 Unauthorized"}, {}
        parts = [unquote(p) for p in urlparse(raw_path).path.strip("/").split("/")]
        if parts[:4] != ["api", "v4", "projects", self.project]:
            return 404, {"message": "404 Project Not Found"}, {}
        rest = parts[4:]
        if rest[:1] == ["statuses"] and method == "POST":
            status = copy.deepcopy(payload("gitlab_status_created.json")) | {"sha": rest[1]}
            sent = json.loads(body)
            status.update(status=sent["state"], name=sent.get("name"), description=sent.get("description"))
            self.statuses.append(status)
            return 201, status, {}
        if rest[:1] == ["merge_requests"] and len(rest) >= 2:
            mr = self.merge_requests.get(int(rest[1]))
            if mr is None:
                return 404, {"message": "404 Not found"}, {}
            if len(rest) == 2 and method == "GET":
                return 200, mr, {}
            if rest[2:] == ["merge"] and method == "PUT":
                if self.refuse_merge:
                    code = 409 if "409" in self.refuse_merge else 405
                    return code, payload(self.refuse_merge), {}
                if json.loads(body).get("sha") != mr["sha"]:
                    return 409, payload("gitlab_merge_409.json"), {}
                if mr["state"] != "opened":
                    return 405, payload("gitlab_merge_405.json"), {}
                merged = payload("gitlab_mr_merged.json")
                mr.update(state="merged", merge_commit_sha=merged["merge_commit_sha"], merged_at=merged["merged_at"])
                return 200, mr, {}
        return 404, {"message": "404 Not Found"}, {}
