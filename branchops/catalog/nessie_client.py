"""A small typed client of Nessie's REST API v2 (``/api/v2``) over httpx.

Why not pynessie: it speaks only the deprecated API v1, is no longer developed, and does not
import with marshmallow 4. This covers what branchops needs: trees (list, get, create, assign,
delete), entries and contents, commits with an expected hash, merges (with dry run), diffs and
history.

Failures become branchops errors: a ref that is not there -> :class:`RefNotFound`, a name that
is taken -> :class:`RefAlreadyExists`, a ref not at the expected hash -> :class:`ReferenceConflict`,
keys changed on both sides of a merge -> :class:`MergeConflict`, a server that is down or
failing -> :class:`BackendError` after a bounded number of retries. No message ever holds the
bearer token.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from branchops.errors import (
    BackendError,
    BranchopsError,
    ConfigError,
    MergeConflict,
    RefAlreadyExists,
    ReferenceConflict,
    RefNotFound,
    UsageError,
)

ContentKey = tuple[str, ...]
Content = dict[str, Any]
RefKind = Literal["BRANCH", "TAG"]
MergeBehavior = Literal["NORMAL", "FORCE", "DROP"]

ICEBERG_TABLE = "ICEBERG_TABLE"
NAMESPACE = "NAMESPACE"
DETACHED = "DETACHED"
NO_ANCESTOR_HASH = "2e1cfa82b035c26cbbbdae632cea070514eb8b773f616aaeaf668e2f0be8f10d"  # Nessie's empty commit

# 502/503/504 mean the request did not reach (or was not finished by) Nessie: safe to resend
# even a commit. Other 5xx are resent only for reads, assigns and deletes (idempotent here).
_GATEWAY = {502, 503, 504}
_IDEMPOTENT = {"GET", "PUT", "DELETE", "HEAD"}
_NOT_AT_HASH = re.compile(r"expected hash '([0-9a-f]+)', but at '([0-9a-f]+)'")
_CONFLICT_KEYS = re.compile(r"'([^']+)'")


@dataclass(frozen=True)
class Reference:
    name: str
    hash: str
    type: RefKind = "BRANCH"


@dataclass(frozen=True)
class Entry:
    key: ContentKey
    type: str
    content_id: str | None
    content: Content | None

    @property
    def location(self) -> str | None:
        """An Iceberg table's metadata location (None for other content)."""
        return content_location(self.content)


@dataclass(frozen=True)
class Operation:
    """One commit operation: PUT (content), DELETE or UNCHANGED of a key."""

    type: Literal["PUT", "DELETE", "UNCHANGED"]
    key: ContentKey
    content: Content | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "key": {"elements": list(self.key)}}
        if self.content is not None:
            out["content"] = self.content
        return out


@dataclass(frozen=True)
class LogEntry:
    hash: str
    parents: tuple[str, ...]  # first parent, then merge parents
    message: str
    author: str
    commit_time: str
    properties: dict[str, str]
    operations: tuple[Operation, ...] = ()


@dataclass(frozen=True)
class MergeResponse:
    applied: bool
    successful: bool
    target_hash: str | None
    common_ancestor: str | None
    conflicts: tuple[ContentKey, ...] = ()


@dataclass(frozen=True)
class DiffEntry:
    key: ContentKey
    before: Content | None
    after: Content | None


def content_location(content: Content | None) -> str | None:
    if content and content.get("type") == ICEBERG_TABLE:
        return str(content.get("metadataLocation"))
    return None


def iso_time(instant: str) -> str:
    """Nessie's nanosecond instant in the ISO form the SQL backend writes (sortable as text)."""
    if not instant:
        return ""
    head, _, frac = instant.rstrip("Z").partition(".")
    micros = int((frac + "000000")[:6]) if frac else 0
    return datetime.fromisoformat(head).replace(tzinfo=UTC, microsecond=micros).isoformat(timespec="microseconds")


def key_str(key: Sequence[str]) -> str:
    return ".".join(key)


def ref_path(name: str | None, hash_: str | None = None) -> str:
    """A ``{ref}`` path parameter: ``name``, ``name@hash`` or ``@hash`` (URL-escaped)."""
    spec = (name or "") + (f"@{hash_}" if hash_ else "")
    return quote(spec, safe="@")


def _key(raw: Mapping[str, Any]) -> ContentKey:
    return tuple(raw.get("elements") or ())


def _log_entry(raw: Mapping[str, Any]) -> LogEntry:
    meta = raw.get("commitMeta") or {}
    first = [raw["parentCommitHash"]] if raw.get("parentCommitHash") else []
    parents = tuple(meta.get("parentCommitHashes") or first)
    authors = [a for a in (meta.get("authors") or [meta.get("author")]) if a]
    props = {k: (v[-1] if isinstance(v, list) else v) for k, v in (meta.get("allProperties") or {}).items()}
    if not props:
        props = dict(meta.get("properties") or {})
    ops = tuple(
        Operation(op["type"], _key(op["key"]), op.get("content")) for op in (raw.get("operations") or [])
    )
    return LogEntry(
        hash=meta["hash"], parents=parents, message=meta.get("message") or "", author=authors[0] if authors else "",
        commit_time=iso_time(meta.get("commitTime") or ""), properties={str(k): str(v) for k, v in props.items()},
        operations=ops,
    )


class NessieClient:
    """Nessie REST API v2. ``uri`` is the API root, e.g. ``http://nessie:19120/api/v2``.

    ``client`` may be any ``httpx.Client`` (tests inject a transport); by default one is made.
    """

    def __init__(
        self,
        uri: str,
        *,
        token: str | None = None,
        client: httpx.Client | None = None,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 0.25,
    ) -> None:
        self.uri = uri.rstrip("/")
        self._token = token
        self._own_client = client is None
        self._http = client if client is not None else httpx.Client(timeout=timeout)
        self.retries = retries
        self.backoff = backoff

    @property
    def safe_uri(self) -> str:
        """The URI without any user:password part, for messages."""
        parts = urlsplit(self.uri)
        host = parts.hostname or ""
        netloc = host + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    def close(self) -> None:
        if self._own_client:
            self._http.close()

    # -- transport ------------------------------------------------------------------------
    def _redact(self, text: str) -> str:
        if self._token:
            text = text.replace(self._token, "***")
        return text

    def _request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None
    ) -> Any:
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        url = self.uri + path
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                resp = self._http.request(method, url, params=clean, json=json, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout) as e:
                if last:
                    raise self._down(f"cannot connect ({type(e).__name__})") from None
            except httpx.TransportError as e:
                if last or method not in _IDEMPOTENT:
                    raise self._down(f"the connection failed ({type(e).__name__})") from None
            else:
                if resp.status_code < 400:
                    return resp.json() if resp.content else None
                retry = resp.status_code in _GATEWAY or (resp.status_code >= 500 and method in _IDEMPOTENT)
                if last or not retry:
                    raise self._error(resp)
            time.sleep(self.backoff * (2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")  # pragma: no cover

    def _down(self, what: str) -> BackendError:
        return BackendError(
            self._redact(f"Nessie at {self.safe_uri} is unavailable: {what}, after {self.retries + 1} tries"),
            unchanged="nothing was written by this request",
            hint="check that the Nessie server is running and reachable (nessie_uri), then retry",
        )

    def _error(self, resp: httpx.Response) -> BranchopsError:
        try:
            body = resp.json()
        except ValueError:
            body = {}
        raw = str(body.get("message") or resp.reason_phrase or "")
        message = self._redact(raw).splitlines()[0][:500] if raw else ""
        code = str(body.get("errorCode") or "")
        status = resp.status_code
        if code == "REFERENCE_NOT_FOUND" or (status == 404 and not code):
            return RefNotFound(f"Nessie: {message}", unchanged="nothing was changed",
                               hint="`branchops branch list` shows the refs")
        if code == "REFERENCE_ALREADY_EXISTS":
            return RefAlreadyExists(f"Nessie: {message}", unchanged="nothing was changed",
                                    hint="pick another name, or drop the existing ref first")
        if code == "REFERENCE_CONFLICT" or status == 409:
            m = _NOT_AT_HASH.search(message)
            if m:
                ref = message.split("'")[1] if "'" in message else "?"
                return ReferenceConflict(ref, m.group(1), m.group(2))
            return BackendConflict(message)
        if status in (401, 403):
            return ConfigError(
                f"Nessie at {self.safe_uri} refused the request ({status}): {message}",
                unchanged="nothing was written",
                hint="set a valid token in BRANCHOPS_NESSIE_TOKEN",
            )
        if status < 500:
            return UsageError(f"Nessie refused the request ({status} {code}): {message}",
                              unchanged="nothing was written")
        return BackendError(
            f"Nessie at {self.safe_uri} failed ({status} {code}): {message}",
            unchanged="nothing was written by this request",
            hint="check the Nessie server's log; retry when it is healthy",
        )

    def _pages(self, path: str, items: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            page = self._request("GET", path, params={**params, "page-token": token})
            yield from page.get(items) or []
            token = page.get("token")
            if not page.get("hasMore") or not token:
                return

    # -- config and trees -----------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        out: dict[str, Any] = self._request("GET", "/config")
        return out

    def list_references(self) -> list[Reference]:
        return [
            Reference(r["name"], r["hash"], r["type"])
            for r in self._pages("/trees", "references", {"max-records": 500})
        ]

    def get_reference(self, name: str) -> Reference:
        r = self._request("GET", f"/trees/{ref_path(name)}")["reference"]
        return Reference(r["name"], r["hash"], r["type"])

    def create_reference(self, name: str, kind: RefKind, source_name: str | None, source_hash: str) -> Reference:
        """Create ``name`` pointing at ``source_hash`` (of ``source_name``; None: a detached hash)."""
        body = {"type": DETACHED, "hash": source_hash} if source_name is None else {
            "type": "BRANCH", "name": source_name, "hash": source_hash}
        r = self._request("POST", "/trees", params={"name": name, "type": kind}, json=body)["reference"]
        return Reference(r["name"], r["hash"], r["type"])

    def assign_reference(self, name: str, expected_hash: str, kind: RefKind, to_hash: str) -> Reference:
        """Point ``name`` at ``to_hash`` iff it is at ``expected_hash`` (compare-and-swap)."""
        r = self._request(
            "PUT", f"/trees/{ref_path(name, expected_hash)}", params={"type": kind},
            json={"type": DETACHED, "hash": to_hash},
        )["reference"]
        return Reference(r["name"], r["hash"], r["type"])

    def delete_reference(self, name: str, expected_hash: str, kind: RefKind | None = None) -> None:
        self._request("DELETE", f"/trees/{ref_path(name, expected_hash)}", params={"type": kind})

    # -- content --------------------------------------------------------------------------
    def entries(self, ref: str | None, hash_: str | None = None, *, content: bool = True) -> list[Entry]:
        return [
            Entry(_key(e["name"]), e["type"], e.get("contentId"), e.get("content"))
            for e in self._pages(
                f"/trees/{ref_path(ref, hash_)}/entries", "entries",
                {"content": str(content).lower(), "max-records": 1000},
            )
        ]

    def contents(self, ref: str | None, hash_: str | None, keys: Sequence[ContentKey]) -> dict[ContentKey, Content]:
        if not keys:
            return {}
        body = {"requestedKeys": [{"elements": list(k)} for k in keys]}
        out = self._request("POST", f"/trees/{ref_path(ref, hash_)}/contents", json=body)
        return {_key(c["key"]): c["content"] for c in out.get("contents") or []}

    def commit(
        self,
        branch: str,
        expected_hash: str,
        operations: Sequence[Operation],
        *,
        message: str,
        author: str | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> str:
        """One atomic commit; returns the branch's new hash."""
        meta: dict[str, Any] = {"message": message, "properties": dict(properties or {})}
        if author:
            meta["author"] = author
        body = {"commitMeta": meta, "operations": [op.to_json() for op in operations]}
        out = self._request("POST", f"/trees/{ref_path(branch, expected_hash)}/history/commit", json=body)
        return str(out["targetBranch"]["hash"])

    # -- history --------------------------------------------------------------------------
    def log(self, ref: str | None, hash_: str | None = None, *, limit: int | None = None,
            operations: bool = True) -> Iterator[LogEntry]:
        """Commits newest first along first parents (``limit`` caps how many)."""
        params = {"fetch": "ALL" if operations else "MINIMAL", "max-records": min(limit or 250, 250)}
        for n, raw in enumerate(self._pages(f"/trees/{ref_path(ref, hash_)}/history", "logEntries", params)):
            if limit is not None and n >= limit:
                return
            yield _log_entry(raw)

    def commits_with_prefix(self, prefix: str) -> set[str]:
        """Hashes starting with ``prefix`` among the commits reachable from any ref (first parents)."""
        found: set[str] = set()
        seen: set[str] = set()
        for ref in self.list_references():
            for entry in self.log(None, ref.hash, operations=False):
                if entry.hash in seen:
                    break
                seen.add(entry.hash)
                if entry.hash.startswith(prefix):
                    found.add(entry.hash)
        return found

    def ancestry(self, start: str) -> dict[str, int]:
        """Every ancestor of ``start`` (merge parents too) with its distance from ``start``."""
        dist: dict[str, int] = {start: 0}
        todo = [start]
        while todo:
            tip = todo.pop()
            if tip == NO_ANCESTOR_HASH:
                continue
            depth = dist[tip]
            for n, entry in enumerate(self.log(None, tip, operations=False)):
                if n and entry.hash in dist:
                    break
                dist[entry.hash] = min(dist.get(entry.hash, depth + n), depth + n)
                for p in entry.parents[1:]:
                    if p not in dist:
                        dist[p] = depth + n + 1
                        todo.append(p)
        return dist

    def diff(self, from_ref: str | None, from_hash: str | None, to_ref: str | None,
             to_hash: str | None) -> list[DiffEntry]:
        path = f"/trees/{ref_path(from_ref, from_hash)}/diff/{ref_path(to_ref, to_hash)}"
        return [DiffEntry(_key(d["key"]), d.get("from"), d.get("to"))
                for d in self._pages(path, "diffs", {"max-records": 1000})]

    def merge(
        self,
        target: str,
        expected_hash: str,
        from_ref: str | None,
        from_hash: str,
        *,
        message: str | None = None,
        author: str | None = None,
        properties: Mapping[str, str] | None = None,
        dry_run: bool = False,
        key_modes: Mapping[ContentKey, MergeBehavior] | None = None,
        default_mode: MergeBehavior = "NORMAL",
    ) -> MergeResponse:
        """Merge ``from_hash`` into branch ``target``; conflicts come back in the response."""
        body: dict[str, Any] = {
            "fromRefName": from_ref or DETACHED,
            "fromHash": from_hash,
            "isDryRun": dry_run,
            "isReturnConflictAsResult": True,
            "defaultKeyMergeMode": default_mode,
            "keyMergeModes": [{"key": {"elements": list(k)}, "mergeBehavior": m} for k, m in (key_modes or {}).items()],
        }
        if message is not None or author or properties:
            meta: dict[str, Any] = {"message": message or "", "properties": dict(properties or {})}
            if author:
                meta["author"] = author
            body["commitMeta"] = meta
        out = self._request("POST", f"/trees/{ref_path(target, expected_hash)}/history/merge", json=body)
        details = out.get("details") or []
        return MergeResponse(
            applied=bool(out.get("wasApplied")),
            successful=bool(out.get("wasSuccessful")),
            target_hash=out.get("resultantTargetHash"),
            common_ancestor=out.get("commonAncestor"),
            conflicts=tuple(_key(d["key"]) for d in details if d.get("conflict")),
        )


class BackendConflict(ReferenceConflict):
    """Nessie said 409 without naming hashes (e.g. keys changed concurrently); keys are in ``message``."""

    def __init__(self, message: str) -> None:
        super().__init__("?", None, None, hint="re-read the ref and retry")
        self.message = f"Nessie: {message}"
        self.args = (self.message,)

    def keys(self) -> list[str]:
        return _CONFLICT_KEYS.findall(self.message.split(":", 2)[-1])


def merge_conflict(source: str, target: str, keys: Sequence[ContentKey]) -> MergeConflict:
    return MergeConflict(source, target, [key_str(k) for k in keys])
