"""A small typed client of Nessie's REST API v2 (``/api/v2``) over httpx.

Why not pynessie: it speaks only the deprecated API v1, is no longer developed, and does not
import with marshmallow 4. This covers what branchops needs: trees (list, get, create, assign,
delete), entries and contents, commits with an expected hash, merges (with dry run), diffs and
history. Each call is one typed method of :class:`NessieClient`; requests, retries and the
mapping of failures to branchops errors are its base class's
(:mod:`~branchops.catalog.nessie.transport`), the types it returns are in
:mod:`~branchops.catalog.nessie.models`. Their public names are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from branchops.catalog.nessie.models import (
    DETACHED,
    ICEBERG_TABLE,
    MERGED_FROM,
    NAMESPACE,
    NO_ANCESTOR_HASH,
    Content,
    ContentKey,
    DiffEntry,
    Entry,
    LogEntry,
    MergeBehavior,
    MergeResponse,
    Operation,
    Reference,
    RefKind,
    content_location,
    iso_time,
    key_str,
    parse_key,
    parse_log_entry,
    ref_path,
)
from branchops.catalog.nessie.transport import BackendConflict, NessieTransport, merge_conflict

__all__ = [
    "DETACHED",
    "ICEBERG_TABLE",
    "MERGED_FROM",
    "NAMESPACE",
    "NO_ANCESTOR_HASH",
    "BackendConflict",
    "Content",
    "ContentKey",
    "DiffEntry",
    "Entry",
    "LogEntry",
    "MergeBehavior",
    "MergeResponse",
    "NessieClient",
    "Operation",
    "RefKind",
    "Reference",
    "content_location",
    "iso_time",
    "key_str",
    "merge_conflict",
    "ref_path",
]


class NessieClient(NessieTransport):
    """Nessie REST API v2. ``uri`` is the API root, e.g. ``http://nessie:19120/api/v2``.

    ``client`` may be any ``httpx.Client`` (tests inject a transport); by default one is made.
    """

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
            Entry(parse_key(e["name"]), e["type"], e.get("contentId"), e.get("content"))
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
        return {parse_key(c["key"]): c["content"] for c in out.get("contents") or []}

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
        for n, raw in enumerate(self._pages(f"/trees/{ref_path(ref, hash_)}/history", "logEntries", params), 1):
            yield parse_log_entry(raw)
            if limit is not None and n >= limit:
                return  # before the next page is requested

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
        return [DiffEntry(parse_key(d["key"]), d.get("from"), d.get("to"))
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
            conflicts=tuple(parse_key(d["key"]) for d in details if d.get("conflict")),
        )
