"""The row diff of one table in the engine: counts, per-column changes, samples, duplicate keys.

With a key, one pass over each side (``queries.key_groups``) finds the key values whose rows
differ and counts duplicate keys at the same time; a second pass fetches only the rows of those
keys, and the multiset difference (``residue_hashes`` / ``residue_rows``) runs over that small set.
Without a key, the multiset difference runs over every row (two passes per side).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from branchops.diff import queries as q
from branchops.diff.model import RowCounts, Samples
from branchops.diff.profile import side_samples, table_samples

if TYPE_CHECKING:
    from sqlglot import exp

    from branchops.diff.compute import DiffOptions
    from branchops.engine.base import Engine

_IDS = itertools.count()


@dataclass
class RowDiff:
    rows: RowCounts
    columns: dict[str, int]
    samples: Samples
    #: key values seen more than once (base, head) over everything read; None when not counted
    duplicates: tuple[int, int] | None = None


class _Scratch:
    """Names of the session tables one diff stores, dropped together."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.n, self.names = engine, next(_IDS), list[str]()

    def store(self, what: str, sql: str) -> str:
        name = f"__branchops_diff_{what}{self.n}"
        self.names.append(name)
        return self.engine.materialize(name, sql)

    def drop(self) -> None:
        for name in self.names:
            self.engine.drop_materialized(name)


def diff_rows(
    engine: Engine, base: exp.Expr | None, head: exp.Expr | None, columns: list[q.DiffColumn],
    key: Sequence[str] | None, counts: tuple[int, int], opts: DiffOptions,
) -> RowDiff:
    """Diff the rows of ``base`` and ``head`` (None: no rows) over ``columns``."""
    dialect = engine.DIALECT
    values = [c for c in columns if not key or c.name not in key]
    if (base is None and head is None) or not columns:
        return RowDiff(RowCounts(counts[0], counts[1], 0, 0, 0 if key else None),
                       dict.fromkeys([c.name for c in values] if key else [], 0), Samples(),
                       (0, 0) if key else None)
    scratch = _Scratch(engine)
    try:
        duplicates = None
        src, cols = (base, head), columns
        if key:
            groups = scratch.store("k", q.key_groups(base, head, key, columns, dialect).sql(dialect))
            dup = engine.query(q.duplicate_counts(groups, dialect).sql(dialect))[0]
            duplicates = int(dup[0]), int(dup[1])
            src = tuple(  # type: ignore[assignment]
                None if s is None else q.source(scratch.store(f"c{i}", q.key_rows(
                    s, groups, i, key, columns, dialect).sql(dialect)), dialect)
                for i, s in enumerate((base, head)))
            cols = [replace(c, cast=None, cast_head=False) for c in columns]  # values stored cast
        hashes = scratch.store("h", q.residue_hashes(src[0], src[1], cols, dialect).sql(dialect))
        residue = scratch.store("r", q.residue_rows(src[0], src[1], hashes, cols, dialect).sql(dialect))
        if key:
            sql = q.keyed_counts(residue, key, values, opts.tolerance, dialect).sql(dialect)
            row = engine.query(sql)[0]
            added, removed, changed = int(row[0]), int(row[1]), int(row[2])
            per_col = {c.name: int(v) for c, v in zip(values, row[3:], strict=True)}
            samples = table_samples(engine, residue, key, values, opts, dialect)
        else:
            by_side = dict(engine.query(q.side_counts(residue, dialect).sql(dialect)))
            added, removed, changed = int(by_side.get(1, 0)), int(by_side.get(0, 0)), None
            per_col = {}
            samples = side_samples(engine, residue, columns, opts.sample, dialect)
    finally:
        scratch.drop()
    return RowDiff(RowCounts(counts[0], counts[1], added, removed, changed), per_col, samples, duplicates)
