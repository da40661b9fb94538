"""A local stand-in for GitHub's REST API that replays recorded payloads (tests/pr/payloads).

It keeps the PR's comments in memory so create/edit round-trips behave like GitHub's: a list is
served in pages with a ``Link: rel="next"`` header, POST appends a comment shaped like the
recorded one, PATCH edits one. Check runs and commit statuses are kept per head sha; a PR can be
merged (PUT .../pulls/N/merge) once, only at its head sha, unless a recorded refusal is set; a
merge can be held (``hold_merge``) so a test can kill the client between its data merge and
its code merge. Every request is recorded (method, path, headers, body) so tests can assert what
branchops sent, and that the token only ever travelled in the header.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlparse

PAYLOADS = Path(__file__).parent / "payloads"


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class FakeGitHub:
    repo: str = "octo-org/analytics"
    token: str = ""
    page_size: int = 2
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    reviews: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    fail_with: int | None = None
    url: str = ""
    _next_id: int = 1866200000
    #: check runs by id, and commit statuses in the order posted
    check_runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    #: answer POST check-runs with 403, like GitHub does for a token that is not a GitHub App's
    checks_forbidden: bool = False
    statuses_forbidden: bool = False
    #: PRs by number (state of pull_open.json with ``head.sha`` set); merged when the code merges
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: a recorded refusal to answer every merge with, e.g. "pull_merge_405.json"
    refuse_merge: str | None = None
    #: "before" / "after": the next merge request waits at ``merge_release`` before / after merging;
    #: with ``drop_held`` a request held before merging then fails (502) without merging
    hold_merge: str | None = None
    drop_held: bool = False
    merge_arrived: threading.Event = field(default_factory=threading.Event)
    merge_release: threading.Event = field(default_factory=threading.Event)

    def open_pull(self, pr: int, sha: str) -> None:
        pull = copy.deepcopy(payload("pull_open.json"))
        pull["number"], pull["head"]["sha"] = pr, sha
        pull["url"] = f"https://api.github.com/repos/{self.repo}/pulls/{pr}"
        self.pulls[pr] = pull

    def load_comments(self, pr: int) -> None:
        self.comments[pr] = payload("issue_comments_page1.json") + payload("issue_comments_page2.json")

    def bodies(self, pr: int) -> list[str]:
        return [c["body"] for c in self.comments.get(pr, [])]

    # -- request handling -----------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: str) -> tuple[int, Any, dict[str, str]]:
        self.requests.append(Recorded(method, raw_path, headers, body))
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}, {}
        if self.fail_with:
            return self.fail_with, payload("error_403.json"), {}
        url = urlparse(raw_path)
        parts = url.path.strip("/").split("/")
        prefix = ["repos", *self.repo.split("/")]
        if parts[:3] != prefix:
            return 404, {"message": "Not Found"}, {}
        rest = parts[3:]
        page = int(parse_qs(url.query).get("page", ["1"])[0])
        if rest[:1] == ["issues"] and rest[2:] == ["comments"] and method == "GET":
            return self._page(url.path, self.comments.setdefault(int(rest[1]), []), page)
        if rest[:1] == ["issues"] and rest[2:] == ["comments"] and method == "POST":
            pr = int(rest[1])
            new = copy.deepcopy(payload("issue_comment_created.json"))
            self._next_id += 1
            new["id"] = self._next_id
            new["body"] = json.loads(body)["body"]
            new["html_url"] = f"https://github.com/{self.repo}/pull/{pr}#issuecomment-{self._next_id}"
            self.comments.setdefault(pr, []).append(new)
            return 201, new, {}
        if rest[:2] == ["issues", "comments"] and method == "PATCH":
            cid = int(rest[2])
            for comments in self.comments.values():
                for c in comments:
                    if c["id"] == cid:
                        c["body"] = json.loads(body)["body"]
                        c["updated_at"] = "2024-05-02T12:00:00Z"
                        return 200, c, {}
            return 404, {"message": "Not Found"}, {}
        if rest[:1] == ["pulls"] and rest[2:] == ["reviews"] and method == "GET":
            return self._page(url.path, self.reviews.get(int(rest[1]), []), page)
        if rest == ["check-runs"] and method == "POST":
            return self._create_check(json.loads(body))
        if rest[:1] == ["check-runs"] and len(rest) == 2 and method == "PATCH":
            run = self.check_runs.get(int(rest[1]))
            if run is None:
                return 404, {"message": "Not Found"}, {}
            run.update(json.loads(body))
            if run.get("status") == "completed":
                run["completed_at"] = "2024-05-02T11:24:40Z"
            return 200, run, {}
        if rest[:1] == ["statuses"] and method == "POST" and self.statuses_forbidden:
            return 403, payload("error_403.json"), {}
        if rest[:1] == ["statuses"] and method == "POST":
            status = copy.deepcopy(payload("commit_status_created.json")) | json.loads(body)
            status["url"] = f"https://api.github.com/repos/{self.repo}/statuses/{rest[1]}"
            status["sha"] = rest[1]
            self.statuses.append(status)
            return 201, status, {}
        if rest[:1] == ["pulls"] and len(rest) == 2 and method == "GET":
            pull = self.pulls.get(int(rest[1]))
            return (200, pull, {}) if pull else (404, {"message": "Not Found"}, {})
        if rest[:1] == ["pulls"] and rest[2:] == ["merge"] and method == "PUT":
            return self._merge(int(rest[1]), json.loads(body))
        return 404, {"message": "Not Found"}, {}

    def _create_check(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if self.checks_forbidden:
            return 403, payload("check_run_403.json"), {}
        run = copy.deepcopy(payload("check_run_created.json")) | body
        self._next_id += 1
        run["id"] = self._next_id
        run["url"] = f"https://api.github.com/repos/{self.repo}/check-runs/{self._next_id}"
        self.check_runs[self._next_id] = run
        return 201, run, {}

    def _merge(self, pr: int, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        pull = self.pulls.get(pr)
        if pull is None:
            return 404, {"message": "Not Found"}, {}
        held, self.hold_merge = self.hold_merge, None
        self.merge_arrived.set()
        if held == "before":
            self.merge_release.wait(60)
            if self.drop_held:
                return 502, {"message": "Server Error"}, {}
        if self.refuse_merge:
            return int(payload(self.refuse_merge)["status"]), payload(self.refuse_merge), {}
        if pull["merged"]:
            return 405, payload("pull_merge_405.json"), {}
        if body.get("sha") != pull["head"]["sha"]:
            return 409, payload("pull_merge_409.json"), {}
        answer = payload("pull_merge_200.json")
        pull.update(merged=True, state="closed", merge_commit_sha=answer["sha"])
        if held == "after":
            self.merge_release.wait(60)
        return 200, answer, {}

    def _page(self, path: str, items: list[dict[str, Any]], page: int) -> tuple[int, Any, dict[str, str]]:
        start = (page - 1) * self.page_size
        chunk = items[start : start + self.page_size]
        headers = {}
        if start + self.page_size < len(items):
            headers["Link"] = f'<{self.url}{path}?per_page=100&page={page + 1}>; rel="next"'
        return 200, chunk, headers


class Served(Protocol):
    url: str

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: str) -> tuple[int, Any, dict[str, str]]:
        ...


def serve(fake: Served) -> tuple[ThreadingHTTPServer, threading.Thread]:
    class Handler(BaseHTTPRequestHandler):
        def _do(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, data, extra = fake.handle(self.command, self.path, headers, body)
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            # the client may have been killed while its request was held: that is the test
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(raw)

        do_GET = do_POST = do_PATCH = do_PUT = _do

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread
