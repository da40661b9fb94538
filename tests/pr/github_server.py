"""A local stand-in for GitHub's REST API that replays recorded payloads (tests/pr/payloads).

It keeps the PR's comments in memory so create/edit round-trips behave like GitHub's: a list is
served in pages with a ``Link: rel="next"`` header, POST appends a comment shaped like the
recorded one, PATCH edits one. Every request is recorded (method, path, headers, body) so tests
can assert what branchops sent, and that the token only ever travelled in the header.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
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
        return 404, {"message": "Not Found"}, {}

    def _page(self, path: str, items: list[dict[str, Any]], page: int) -> tuple[int, Any, dict[str, str]]:
        start = (page - 1) * self.page_size
        chunk = items[start : start + self.page_size]
        headers = {}
        if start + self.page_size < len(items):
            headers["Link"] = f'<{self.url}{path}?per_page=100&page={page + 1}>; rel="next"'
        return 200, chunk, headers


def serve(fake: FakeGitHub) -> tuple[ThreadingHTTPServer, threading.Thread]:
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
            self.wfile.write(raw)

        do_GET = do_POST = do_PATCH = _do

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread
