"""The shapes of Nessie's REST API v2 that branchops uses, and their parsing from JSON.

Plain frozen dataclasses (:class:`Reference`, :class:`Entry`, :class:`Operation`,
:class:`LogEntry`, :class:`MergeResponse`, :class:`DiffEntry`) and the conversions between
Nessie's JSON and them: content keys, ``{ref}`` path parameters, commit times.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

ContentKey = tuple[str, ...]
Content = dict[str, Any]
RefKind = Literal["BRANCH", "TAG"]
MergeBehavior = Literal["NORMAL", "FORCE", "DROP"]

ICEBERG_TABLE = "ICEBERG_TABLE"
NAMESPACE = "NAMESPACE"
DETACHED = "DETACHED"
NO_ANCESTOR_HASH = "2e1cfa82b035c26cbbbdae632cea070514eb8b773f616aaeaf668e2f0be8f10d"  # Nessie's empty commit
#: commit property naming the merge parent of a merge branchops wrote as a single-parent commit
#: (Nessie refused to merge, e.g. histories without a common ancestor): read back as a parent
MERGED_FROM = "branchops.merged_from"


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


def parse_key(raw: Mapping[str, Any]) -> ContentKey:
    """A content key from its JSON (``{"elements": [...]}``)."""
    return tuple(raw.get("elements") or ())


def parse_log_entry(raw: Mapping[str, Any]) -> LogEntry:
    """A :class:`LogEntry` from one ``logEntries`` item of a history response."""
    meta = raw.get("commitMeta") or {}
    first = [raw["parentCommitHash"]] if raw.get("parentCommitHash") else []
    parents = tuple(meta.get("parentCommitHashes") or first)
    authors = [a for a in (meta.get("authors") or [meta.get("author")]) if a]
    props = {k: (v[-1] if isinstance(v, list) else v) for k, v in (meta.get("allProperties") or {}).items()}
    if not props:
        props = dict(meta.get("properties") or {})
    merged_from = props.get(MERGED_FROM)
    if merged_from and len(parents) == 1 and merged_from != parents[0]:
        parents += (str(merged_from),)  # a merge written as one commit: its merge parent, as Nessie's merges have
    ops = tuple(
        Operation(op["type"], parse_key(op["key"]), op.get("content")) for op in (raw.get("operations") or [])
    )
    return LogEntry(
        hash=meta["hash"], parents=parents, message=meta.get("message") or "", author=authors[0] if authors else "",
        commit_time=iso_time(meta.get("commitTime") or ""), properties={str(k): str(v) for k, v in props.items()},
        operations=ops,
    )
