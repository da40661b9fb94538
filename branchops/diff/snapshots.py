"""What Iceberg metadata tells a diff without reading data: live data files, counts, column stats."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyiceberg.conversions import from_bytes
from pyiceberg.types import (
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    PrimitiveType,
)

from branchops.diff.manifests import DATA, DataFileEntry, UnsupportedManifest, live_files, live_files_by_pyiceberg
from branchops.diff.model import Profile

if TYPE_CHECKING:
    from pyiceberg.io import FileIO
    from pyiceberg.schema import Schema
    from pyiceberg.table import Table

FLOAT_TYPES = (FloatType, DoubleType)
NUMERIC_TYPES = (IntegerType, LongType, FloatType, DoubleType, DecimalType)


@dataclass
class TableSnapshot:
    """One side of a table diff, as its metadata describes it: the current snapshot (its id,
    summary and manifest list), the current schema and every schema in the table's history."""

    io: FileIO
    snapshot_id: int | None
    schema: Schema
    schemas: tuple[Schema, ...]
    manifest_list: str | None = None
    summary: dict[str, str] = field(default_factory=dict)
    _files: dict[str, DataFileEntry] | None = None
    _deletes: int | None = None

    @classmethod
    def load(cls, table: Table) -> TableSnapshot:
        """From pyiceberg's ``Table`` (``metadata_file.load_side`` reads the file without it)."""
        snap = table.current_snapshot()
        summary = dict(snap.summary.additional_properties) if snap and snap.summary else {}
        return cls(table.io, snap.snapshot_id if snap else None, table.schema(), tuple(table.metadata.schemas),
                   snap.manifest_list if snap else None, summary)

    @property
    def empty(self) -> bool:
        return self.snapshot_id is None

    def records(self) -> int | None:
        """Live rows from the snapshot summary; None when delete files make it inexact."""
        if self.empty:
            return 0
        if self.summary.get("total-records") is None or self.has_deletes():
            return None
        return int(self.summary["total-records"])

    def has_deletes(self) -> bool:
        if self.empty:
            return False
        if "total-delete-files" in self.summary:
            return int(self.summary["total-delete-files"]) > 0
        self.files()
        return bool(self._deletes)

    def files(self, cache: dict[str, list[DataFileEntry]] | None = None) -> dict[str, DataFileEntry]:
        """Live data files of the snapshot by path (manifests shared by both sides are read once)."""
        if self._files is None:
            self._files, self._deletes = {}, 0
            if self.manifest_list is not None:
                try:
                    entries = live_files(self.io, self.manifest_list, cache)
                except UnsupportedManifest:
                    entries = live_files_by_pyiceberg(self.io, self.manifest_list)
                for df in entries:
                    if df.content == DATA:
                        self._files[df.file_path] = df
                    else:
                        self._deletes += 1
        return self._files


def field_names_stable(base: Sequence[Schema], head: Sequence[Schema], names: Sequence[str]) -> bool:
    """True when every column in ``names`` had one name and one field id across all schemas of both
    tables (``base`` and ``head``: each table's schemas): then reading data files by column name
    (not by field id) reads the right column."""
    ids: dict[str, set[int]] = {}
    names_of: dict[int, set[str]] = {}
    for schemas in (base, head):
        for schema in schemas:
            for f in schema.fields:
                ids.setdefault(f.name, set()).add(f.field_id)
                names_of.setdefault(f.field_id, set()).add(f.name)
    for n in names:
        fids = ids.get(n, set())
        if len(fids) != 1 or len(names_of[next(iter(fids))]) != 1:
            return False
    return True


def _decode(ftype: Any, raw: bytes | None) -> Any:
    if raw is None or not isinstance(ftype, PrimitiveType):
        return None
    try:
        return from_bytes(ftype, raw)
    except (ValueError, TypeError, NotImplementedError):
        return None


def manifest_profiles(files: Mapping[str, DataFileEntry], schema: Schema, names: Sequence[str]) -> dict[str, Profile]:
    """Nulls, min and max of each column from the data files' column statistics (no data read).

    Distinct and mean are not in Iceberg manifests: they are None. Figures are None when a file
    lacks the statistic. String bounds may be truncated prefixes (Iceberg's default metrics mode).
    """
    rows = sum(df.record_count for df in files.values())
    out: dict[str, Profile] = {}
    for name in names:
        f = schema.find_field(name)
        nulls: int | None = 0
        lo: Any = None
        hi: Any = None
        bounds_ok = True
        for df in files.values():
            n = (df.null_value_counts or {}).get(f.field_id)
            nulls = None if n is None or nulls is None else nulls + n
            low = _decode(f.field_type, (df.lower_bounds or {}).get(f.field_id))
            high = _decode(f.field_type, (df.upper_bounds or {}).get(f.field_id))
            all_null = n is not None and n == df.record_count
            if all_null:
                continue
            if low is None or high is None:
                bounds_ok = False
                continue
            lo = low if lo is None or low < lo else lo
            hi = high if hi is None or high > hi else hi
        lo, hi = (0.0 if v == 0 and isinstance(v, float) else v for v in (lo, hi))  # -0.0 bounds
        out[name] = Profile(rows=rows, nulls=nulls, distinct=None, min=lo if bounds_ok else None,
                            max=hi if bounds_ok else None, mean=None)
    return out


#: types whose Iceberg bounds are the exact min and max DuckDB gives (never truncated, no NaN, and
#: decoded to the same Python values); strings may be truncated prefixes, floats skip NaN
EXACT_BOUND_TYPES = (IntegerType, LongType)


@dataclass(frozen=True)
class ExactStats:
    """What the manifests say exactly about one column over a side's data files: its non-null
    values and, when ``bounded``, its min and max (None and None when every value is NULL)."""

    values: int
    bounded: bool
    lo: Any = None
    hi: Any = None


def exact_stats(files: Mapping[str, DataFileEntry], schema: Schema, names: Sequence[str]) -> dict[str, ExactStats]:
    """The columns of ``names`` whose non-null count (and, for :data:`EXACT_BOUND_TYPES`, min and
    max) every file's statistics give exactly. Valid only when the side is read as exactly these
    files with no delete files, by field id or stable names, and values are not cast. A column
    some file has no counts for is left out; one without every bound is not ``bounded``."""
    out: dict[str, ExactStats] = {}
    for name in names:
        f = schema.find_field(name)
        bounded = isinstance(f.field_type, EXACT_BOUND_TYPES)
        values, lo, hi = 0, None, None
        for df in files.values():
            vc = (df.value_counts or {}).get(f.field_id)
            nc = (df.null_value_counts or {}).get(f.field_id)
            if vc is None or nc is None:
                break
            values += vc - nc
            if not bounded or vc == nc:
                continue
            low = _decode(f.field_type, (df.lower_bounds or {}).get(f.field_id))
            high = _decode(f.field_type, (df.upper_bounds or {}).get(f.field_id))
            if low is None or high is None:
                bounded = False
                continue
            lo = low if lo is None or low < lo else lo
            hi = high if hi is None or high > hi else hi
        else:
            out[name] = ExactStats(values, bounded, lo if bounded else None, hi if bounded else None)
    return out


def _key_range(field: Any, files: Sequence[DataFileEntry]) -> tuple[bool, Any, Any] | None:
    """(any NULL, lowest, highest) of one key column over ``files``; None when a bound is unknown."""
    nulls, lo, hi = False, None, None
    for df in files:
        n = (df.null_value_counts or {}).get(field.field_id)
        nulls = nulls or n is None or n > 0
        if n is not None and n == df.record_count:
            continue
        low = _decode(field.field_type, (df.lower_bounds or {}).get(field.field_id))
        high = _decode(field.field_type, (df.upper_bounds or {}).get(field.field_id))
        if low is None or high is None:
            return None
        lo = low if lo is None or low < lo else lo
        hi = high if hi is None or high > hi else hi
    return nulls, lo, hi


def files_for_keys(files: Mapping[str, DataFileEntry], changed: Sequence[DataFileEntry], schema: Schema,
                   key: Sequence[str]) -> list[str]:
    """Paths of ``files`` that may hold a key value of a row in ``changed``, by the key columns'
    bounds and null counts in the manifests (every file when a bound is unknown or a float)."""
    wanted = []
    for name in key:
        f = schema.find_field(name)
        rng = None if isinstance(f.field_type, FLOAT_TYPES) else _key_range(f, changed)
        if rng is None:
            return sorted(files)
        wanted.append((f, rng))
    return sorted(path for path, df in files.items() if _may_hold(df, wanted))


def _may_hold(df: DataFileEntry, wanted: Sequence[tuple[Any, tuple[bool, Any, Any]]]) -> bool:
    for f, (nulls, lo, hi) in wanted:
        rng = _key_range(f, [df])
        if rng is None:
            continue  # unknown bounds: the file may hold anything
        f_nulls, f_lo, f_hi = rng
        overlap = lo is not None and f_lo is not None and f_lo <= hi and lo <= f_hi
        if not overlap and not (nulls and f_nulls):
            return False
    return True
