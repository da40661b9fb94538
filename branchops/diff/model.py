"""The typed results of a diff; ``to_dict()`` is the stable JSON other tools parse (issue 5).

::

    {"base": {"ref": "main", "hash": ...}, "head": {"ref": "feat", "hash": ...}, "differs": bool,
     "tables": [{"table": "raw.t", "status": "added|removed|modified|unchanged", "key": [...] | null,
                 "key_source": "flag|manifest:<how>|null", "method": ..., "differs": bool,
                 "schema": {"added": [{"name", "type"}], "removed": [...],
                            "type_changed": [{"name", "base", "head"}]},
                 "rows": {"base": n, "head": n, "added": n, "removed": n, "changed": n | null},
                 "duplicate_keys": {"base": n | null, "head": n | null, "scope": "table|changed_keys"} | null,
                 "columns": {"col": {"changed": n}}, "profiles": {"col": {"base": {...}, "head": {...}}},
                 "profile_source": "scan|manifests|null",
                 "samples": {"added": [row], "removed": [row], "changed": [{"key", "base", "head"}]},
                 "files": {"base": n, "head": n, "shared": n, "read_base": n, "read_head": n} | null,
                 "notes": [...]}]}
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

#: GitHub's limit on one comment's body, in UTF-8 bytes: the one copy of the number (the diff's
#: markdown, the PR report and the GitHub client all fit into it)
MAX_COMMENT_BYTES = 65_535


@dataclass(frozen=True)
class DiffOptions:
    keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # table -> key columns (flags)
    tables: Sequence[str] = ()  # glob patterns; empty = every table
    include_unchanged: bool = False
    sample: int = 5
    tolerance: float = 1e-9
    profiles: bool = True
    manifest_keys: bool = True  # look up keys in the dbt manifests stored with the refs
    #: ref -> its dbt build (a StoredBuild or None) as the caller looked it up already (a sync does once)
    builds: Mapping[str, Any] = field(default_factory=dict)


class TableStatus(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    MODIFIED = "modified"
    UNCHANGED = "unchanged"


class Method(StrEnum):
    """Which path computed a table's diff (cost follows the change)."""

    CATALOG = "catalog"  # added / removed table: pointers and snapshot summary only
    SAME_METADATA = "same_metadata"  # identical pointer: nothing read
    SAME_SNAPSHOT = "same_snapshot"  # same snapshot and schema: metadata read, no data
    FILE_PRUNING = "file_pruning"  # only the data files the two snapshots do not share
    FULL_SCAN = "full_scan"  # every row of both sides


def jsonable(value: Any) -> Any:
    """A value from the engine made JSON-safe (dates as ISO text, decimals as text, NaN as text)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID | dt.timedelta):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


@dataclass(frozen=True)
class RefSide:
    ref: str
    hash: str

    def to_dict(self) -> dict[str, str]:
        return {"ref": self.ref, "hash": self.hash}


@dataclass(frozen=True)
class ColumnType:
    name: str
    type: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type}


@dataclass(frozen=True)
class TypeChange:
    name: str
    base: str
    head: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "base": self.base, "head": self.head}


@dataclass(frozen=True)
class SchemaDiff:
    added: tuple[ColumnType, ...] = ()
    removed: tuple[ColumnType, ...] = ()
    type_changed: tuple[TypeChange, ...] = ()

    @property
    def differs(self) -> bool:
        return bool(self.added or self.removed or self.type_changed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": [c.to_dict() for c in self.added],
            "removed": [c.to_dict() for c in self.removed],
            "type_changed": [c.to_dict() for c in self.type_changed],
        }


@dataclass(frozen=True)
class RowCounts:
    base: int
    head: int
    added: int
    removed: int
    changed: int | None  # None without a key: a keyless diff cannot pair rows

    @property
    def differs(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def to_dict(self) -> dict[str, int | None]:
        return {"base": self.base, "head": self.head, "added": self.added, "removed": self.removed,
                "changed": self.changed}


@dataclass(frozen=True)
class DuplicateKeys:
    """Key values that occur more than once (each counted once)."""

    base: int | None
    head: int | None
    scope: str = "table"  # "changed_keys": only keys of rows in not-shared files were checked (pruning)

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base, "head": self.head, "scope": self.scope}


@dataclass(frozen=True)
class Profile:
    rows: int
    nulls: int | None
    distinct: int | None
    min: Any
    max: Any
    mean: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "nulls": self.nulls, "distinct": self.distinct, "min": jsonable(self.min),
                "max": jsonable(self.max), "mean": jsonable(self.mean)}


@dataclass(frozen=True)
class ColumnProfiles:
    base: Profile | None
    head: Profile | None

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base.to_dict() if self.base else None,
                "head": self.head.to_dict() if self.head else None}


@dataclass(frozen=True)
class ChangedRow:
    key: dict[str, Any]
    base: dict[str, Any]
    head: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"key": jsonable(self.key), "base": jsonable(self.base), "head": jsonable(self.head)}


@dataclass(frozen=True)
class Samples:
    added: tuple[dict[str, Any], ...] = ()
    removed: tuple[dict[str, Any], ...] = ()
    changed: tuple[ChangedRow, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"added": [jsonable(r) for r in self.added], "removed": [jsonable(r) for r in self.removed],
                "changed": [c.to_dict() for c in self.changed]}


@dataclass(frozen=True)
class FileStats:
    base: int
    head: int
    shared: int
    read_base: int
    read_head: int

    def to_dict(self) -> dict[str, int]:
        return {"base": self.base, "head": self.head, "shared": self.shared, "read_base": self.read_base,
                "read_head": self.read_head}


@dataclass(frozen=True)
class TableDiff:
    table: str
    status: TableStatus
    method: Method
    key: tuple[str, ...] | None = None
    key_source: str | None = None
    schema: SchemaDiff = field(default_factory=SchemaDiff)
    rows: RowCounts | None = None
    duplicate_keys: DuplicateKeys | None = None
    columns: dict[str, int] = field(default_factory=dict)  # column -> rows whose value changed
    profiles: dict[str, ColumnProfiles] = field(default_factory=dict)
    profile_source: str | None = None
    samples: Samples = field(default_factory=Samples)
    files: FileStats | None = None
    notes: tuple[str, ...] = ()

    @property
    def differs(self) -> bool:
        if self.status in (TableStatus.ADDED, TableStatus.REMOVED):
            return True
        return self.schema.differs or (self.rows is not None and self.rows.differs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "status": self.status.value,
            "key": list(self.key) if self.key is not None else None,
            "key_source": self.key_source,
            "method": self.method.value,
            "differs": self.differs,
            "schema": self.schema.to_dict(),
            "rows": self.rows.to_dict() if self.rows else None,
            "duplicate_keys": self.duplicate_keys.to_dict() if self.duplicate_keys else None,
            "columns": {c: {"changed": n} for c, n in self.columns.items()},
            "profiles": {c: p.to_dict() for c, p in self.profiles.items()},
            "profile_source": self.profile_source,
            "samples": self.samples.to_dict(),
            "files": self.files.to_dict() if self.files else None,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class DiffResult:
    base: RefSide
    head: RefSide
    tables: tuple[TableDiff, ...]

    @property
    def differs(self) -> bool:
        return any(t.differs for t in self.tables)

    def table(self, name: str) -> TableDiff:
        for t in self.tables:
            if t.table == name:
                return t
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base.to_dict(), "head": self.head.to_dict(), "differs": self.differs,
                "tables": [t.to_dict() for t in self.tables]}
