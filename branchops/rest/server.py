"""``branchops serve``: the Iceberg REST catalog over HTTP (stdlib ``ThreadingHTTPServer``).

Routing, bearer-token auth and the error model live here; the operations are
:class:`~branchops.rest.service.RestCatalogService`'s. Paths follow the Apache Iceberg REST
catalog spec (``/v1/{prefix}/namespaces/...``); the prefix, when a client uses one, is the
branch (``/v1/config?warehouse=pr-42`` hands it out).
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from branchops.rest.naming import ROUTES, RestError, bad_request, decode_segment
from branchops.rest.service import Answer, RestCatalogService, dumps
from branchops.secrets import redact, register_secret

if TYPE_CHECKING:
    from collections.abc import Callable

    from branchops.catalog.base import VersionedCatalog

log = logging.getLogger("branchops.rest")
MAX_BODY = 64 * 1024 * 1024


def route(service: RestCatalogService, method: str, raw_path: str, query: dict[str, list[str]],
          body: dict[str, Any] | None) -> Answer:
    """Dispatch one request; raises RestError (404 for an unknown path, 405 for a wrong method)."""
    parts = [decode_segment(p) for p in raw_path.strip("/").split("/")]
    if not parts or parts[0] != "v1" or len(parts) < 2:
        raise RestError(404, "NotFoundException", f"no such endpoint: {method} {raw_path}")
    rest = parts[1:]
    prefix: str | None = None
    if rest[0] not in ROUTES:
        prefix, rest = rest[0], rest[1:]
    key = (method, tuple(_shape(rest)))
    args = [p for p, s in zip(rest, _shape(rest), strict=True) if s == "*"]

    def one(name: str) -> str | None:
        values = query.get(name)
        return values[0] if values else None

    handlers: dict[tuple[str, tuple[str, ...]], Callable[[], Answer]] = {
        ("GET", ("config",)): lambda: service.config(one("warehouse")),
        ("GET", ("namespaces",)): lambda: service.list_namespaces(prefix, one("parent")),
        ("POST", ("namespaces",)): lambda: service.create_namespace(prefix, body),
        ("GET", ("namespaces", "*")): lambda: service.load_namespace(prefix, args[0]),
        ("HEAD", ("namespaces", "*")): lambda: (204, service.load_namespace(prefix, args[0]) and None),
        ("DELETE", ("namespaces", "*")): lambda: service.drop_namespace(prefix, args[0]),
        ("POST", ("namespaces", "*", "properties")): lambda: service.update_namespace_properties(
            prefix, args[0], body),
        ("GET", ("namespaces", "*", "tables")): lambda: service.list_tables(prefix, args[0]),
        ("POST", ("namespaces", "*", "tables")): lambda: service.create_table(prefix, args[0], body),
        ("POST", ("namespaces", "*", "register")): lambda: service.register_table(prefix, args[0], body),
        ("GET", ("namespaces", "*", "tables", "*")): lambda: service.load_table(prefix, args[0], args[1]),
        ("HEAD", ("namespaces", "*", "tables", "*")): lambda: service.table_exists(prefix, args[0], args[1]),
        ("POST", ("namespaces", "*", "tables", "*")): lambda: service.commit_table(prefix, args[0], args[1], body),
        ("DELETE", ("namespaces", "*", "tables", "*")): lambda: service.drop_table(prefix, args[0], args[1]),
        ("GET", ("namespaces", "*", "views")): lambda: service.list_views(prefix, args[0]),
        ("POST", ("tables", "rename")): lambda: service.rename_table(prefix, body),
    }
    handler = handlers.get(key)
    if handler is None:
        if any(k[1] == key[1] for k in handlers):
            raise RestError(405, "MethodNotAllowedException", f"{method} is not allowed on {raw_path}")
        raise RestError(404, "NotFoundException", f"no such endpoint: {method} {raw_path}")
    return handler()


def _shape(rest: list[str]) -> list[str]:
    """Path segments with the variable ones (namespace, table) as ``*``."""
    out = []
    for i, seg in enumerate(rest):
        fixed = (i == 0) or (i == 2 and rest[0] == "namespaces") or (rest[0] != "namespaces")
        out.append(seg if fixed else "*")
    return out


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse one connection
    disable_nagle_algorithm = True  # headers and body leave at once, no 40 ms delayed-ACK stall
    server: RestServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), redact(format % args))

    def _answer(self, status: int, payload: bytes, timing: str) -> None:
        self.send_response(status)
        self.send_header("Server-Timing", timing)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if payload and self.command != "HEAD":  # one write: headers and body in one segment
            self._headers_buffer.append(b"\r\n" + payload)  # type: ignore[attr-defined]
            self.flush_headers()
        else:
            self.end_headers()

    def _body(self) -> dict[str, Any] | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise bad_request(f"request body of {length} bytes is larger than {MAX_BODY}")
        if not length:
            return None
        raw = self.rfile.read(length)
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise bad_request(f"the request body is not JSON: {e}") from None
        if not isinstance(data, dict):
            raise bad_request("the request body must be a JSON object")
        return data

    def _authorized(self) -> bool:
        token = self.server.token
        if token is None:
            return True
        sent = self.headers.get("Authorization") or ""
        return hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())

    def _handle(self) -> None:
        t0 = time.perf_counter()
        url = urlsplit(self.path)
        t_op = t0
        try:
            body = self._body() if self.command in ("POST", "PUT") else None
            t_op = time.perf_counter()
            if not self._authorized():
                raise RestError(401, "NotAuthorizedException",
                                "a bearer token is required (Authorization: Bearer <token>)")
            status, out = route(self.server.service, self.command, url.path, parse_qs(url.query), body)
        except RestError as e:
            status, out = e.code, e.body()
        except Exception as e:  # an internal failure: the client gets the error model, no traceback
            log.exception("REST request failed: %s %s", self.command, url.path)
            status, out = 500, RestError(500, "ServiceFailureException",
                                         redact(f"{type(e).__name__}: {e}")).body()
        if status >= 400:
            level = logging.DEBUG if status == 404 else logging.INFO  # 404: existence checks, routine
            log.log(level, "%s %s -> %s %s", self.command, url.path, status, redact(str(out))[:500])
        t_encode = time.perf_counter()
        payload = dumps(out)
        done = time.perf_counter()
        # where a request's time goes on the server (W3C Server-Timing; bench/rest_catalog.py reads it)
        timing = ", ".join(f"{name};dur={ms * 1000:.3f}" for name, ms in (
            ("body", t_op - t0), ("catalog", t_encode - t_op), ("encode", done - t_encode)))
        self._answer(status, payload, timing)

    do_GET = do_POST = do_DELETE = do_HEAD = do_PUT = _handle


class RestServer(ThreadingHTTPServer):
    """The endpoint; ``serve_forever()`` to run, or :meth:`start` for a background thread."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, versioned: VersionedCatalog, *, host: str = "127.0.0.1", port: int = 0,
                 token: str | None = None) -> None:
        super().__init__((host, port), _Handler)
        self.service = RestCatalogService(versioned)
        self.token = token
        register_secret(token)
        self._thread: threading.Thread | None = None

    @property
    def uri(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> RestServer:
        self._thread = threading.Thread(target=self.serve_forever, name="branchops-rest", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
