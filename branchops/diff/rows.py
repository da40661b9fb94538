"""The row diff of one table in the engine: counts, per-column changes, samples, duplicate keys.

With a key, engines that pay for every stored result (``ONE_QUERY_KEYED_DIFF``) diff unique keys
in one query plus one for samples (``paired``). DuckDB (``FAST_KEYED_DIFF``) reads base once,
joined on the key with head's ``(key, row hash)``, gathering base's differing rows and its column
profile, then fetches head's rows of the differing keys (``onepass``); head's profile is merged
from base's rows that are equal and head's differing rows, and the ``paired`` queries pair the
few stored rows by key. When a key repeats, or DuckDB runs out of memory gathering the differing
rows, one pass over each side finds the key values whose rows differ: a join of
``(key, row hash)`` when that proves every key unique (``keyed.join_groups``), else a group-by
that also counts duplicate keys (``queries.key_groups``). A second pass fetches only the rows of
those keys, computing the side's column profiles in the same scan while the rows are few
(``keyed.fetch_and_profile``), and the multiset difference (``residue_hashes`` /
``residue_rows``) runs over that small set. Without a key, the multiset difference runs over
every row (two passes per side).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from branchops.diff import keyed as kq
from branchops.diff import onepass as op
from branchops.diff import paired
from branchops.diff import queries as q
from branchops.diff.model import Profile, RowCounts, Samples
from branchops.diff.profile import one_row, profiles_from_row, side_samples, table_samples

if TYPE_CHECKING:
    from sqlglot import exp

    from branchops.diff.model import DiffOptions
    from branchops.diff.snapshots import ExactStats
    from branchops.engine.base import Engine

_IDS = itertools.count()

#: the most values (rows x columns) of differing keys gathered in a list while profiling a side;
#: above it the rows are fetched by a join (which can spill) and profiled by a scan of their own
FOLD_MAX_CELLS = 5_000_000
#: bytes one head row takes in the one pass's join table (key and row hash with DuckDB's overhead).
#: Where head's rows need more than the engine's memory limit, the join spills and base, every
#: column of it, spills with it; the join path joins keys and hashes only, then scans each side.
#: At 100M rows under 1 GB on a quiet machine (bench/diff_scale.py): 45.6 s against the one
#: pass's 75.7 s without profiles, 86.4 s against 92.5 s with them
ONE_PASS_BYTES_PER_ROW = 40
#: at most this many rows read on both sides together (a pruned diff's files, known from the
#: manifests), a keyed diff without profiles pairs the sources themselves in two queries
#: (``paired``) instead of storing differing rows first: on few rows the stored tables' statements
#: cost more than reading the rows twice (10M-row table, 2 of 201 files rewritten, 200,000 rows
#: read: 0.17 s against 0.35 s; bench/results/diff_paired_ab.json). Not measured above that size
PAIRED_MAX_ROWS = 1_000_000


@dataclass
class RowDiff:
    rows: RowCounts
    columns: dict[str, int]
    samples: Samples
    #: key values seen more than once (base, head) over everything read; None when not counted
    duplicates: tuple[int, int] | None = None
    #: column profiles (base, head) computed by the pass that fetched the rows; None when not
    profiles: tuple[dict[str, Profile], dict[str, Profile]] | None = None


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
    key: Sequence[str] | None, counts: tuple[int, int], opts: DiffOptions, *,
    source_rows: tuple[int, int] | None = None, profile: bool = False,
    exact: tuple[Mapping[str, ExactStats], Mapping[str, ExactStats]] | None = None,
) -> RowDiff:
    """Diff the rows of ``base`` and ``head`` (None: no rows) over ``columns``.

    ``source_rows``: the rows of ``base`` and ``head`` when known (else counted when needed);
    ``profile``: with a key, also profile both sides in the pass that fetches the differing rows;
    ``exact``: per side, column figures the manifests give exactly for what ``base`` and ``head``
    read (``snapshots.exact_stats``), which that pass then does not compute.
    """
    dialect = engine.DIALECT
    values = [c for c in columns if not key or c.name not in key]
    if (base is None and head is None) or not columns:
        return RowDiff(RowCounts(counts[0], counts[1], 0, 0, 0 if key else None),
                       dict.fromkeys([c.name for c in values] if key else [], 0), Samples(),
                       (0, 0) if key else None)
    # pair the sources themselves: where stored results cost statements of their own (Trino), or
    # on few rows without profiles (a pruned diff); a key proved to repeat takes the general path
    few = source_rows is not None and not profile and sum(source_rows) <= PAIRED_MAX_ROWS
    pair = bool(key) and source_rows is not None and (engine.ONE_QUERY_KEYED_DIFF or few)
    if key and pair and source_rows is not None:
        b = base if base is not None else paired.empty_like(head)  # type: ignore[arg-type]
        h = head if head is not None else paired.empty_like(base)  # type: ignore[arg-type]
        got = paired.paired_diff(engine, b, h, key, columns, source_rows, counts, opts.tolerance, opts.sample,
                                 profile=profile)
        if got is not None:
            return RowDiff(got.rows, got.columns, got.samples, (0, 0), got.profiles)
    keys_repeat = pair  # the pairing failed only because a key repeats
    if not key and engine.ONE_QUERY_KEYED_DIFF:  # no stored results: the multiset diff in one query
        rows, samples = paired.keyless_diff(engine, base, head, columns, counts, opts.sample)
        return RowDiff(rows, {}, samples)
    scratch = _Scratch(engine)
    try:
        duplicates = profiles = None
        src, cols = (base, head), columns
        if key:
            one = None
            fast = not keys_repeat and engine.FAST_KEYED_DIFF and _one_pass_fits(engine, source_rows)
            if fast and base is not None and head is not None:
                one, keys_repeat = _one_pass(engine, scratch, base, head, key, columns, source_rows, profile, exact)
            if one is not None and one.rows == (0, 0):  # every row is equal
                return RowDiff(RowCounts(counts[0], counts[1], 0, 0, 0), dict.fromkeys([c.name for c in values], 0),
                               Samples(), (0, 0), one.profiles)
            if one is not None:  # keys unique: pair the few stored rows by key in two queries
                got = paired.paired_diff(engine, one.base, one.head, key, _stored(columns), one.rows, counts,
                                         opts.tolerance, opts.sample, profile=False)
                if got is not None:
                    return RowDiff(got.rows, got.columns, got.samples, (0, 0), one.profiles)
                src, profiles = (one.base, one.head), one.profiles
            else:
                groups, duplicates, n_keys = _key_groups(engine, scratch, base, head, key, columns, source_rows,
                                                         join=not keys_repeat)
                fold = engine.FAST_KEYED_DIFF and profile and n_keys * len(columns) <= FOLD_MAX_CELLS
                fetched = [_fetch(engine, scratch, s, groups, i, key, columns, fold)
                           for i, s in enumerate((base, head))]
                src = tuple(f[0] for f in fetched)  # type: ignore[assignment]
                if fold:
                    profiles = fetched[0][1], fetched[1][1]
            cols = _stored(columns)
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
    return RowDiff(RowCounts(counts[0], counts[1], added, removed, changed), per_col, samples, duplicates, profiles)


def _key_groups(
    engine: Engine, scratch: _Scratch, base: exp.Expr | None, head: exp.Expr | None, key: Sequence[str],
    columns: Sequence[q.DiffColumn], source_rows: tuple[int, int] | None, *, join: bool = True,
) -> tuple[str, tuple[int, int], int]:
    """The table of differing keys (``__d``), duplicate keys (base, head), how many keys differ.
    ``join``: first try the key join (False: a key is known to repeat)."""
    dialect = engine.DIALECT
    if join and engine.FAST_KEYED_DIFF and base is not None and head is not None:
        groups = scratch.store("j", kq.join_groups(base, head, key, columns, dialect).sql(dialect))
        n, top_b, top_h, n_keys = (int(v) for v in engine.query(kq.join_check(groups, dialect).sql(dialect))[0])
        rows = _side_rows(engine, base, head, source_rows)
        if n == rows[0] + rows[1] and top_b <= 1 and top_h <= 1:
            return groups, (0, 0), n_keys
        engine.drop_materialized(groups)  # a key repeats: group by key to count duplicates
    groups = scratch.store("k", q.key_groups(base, head, key, columns, dialect).sql(dialect))
    dup = engine.query(q.duplicate_counts(groups, dialect).sql(dialect))[0]
    n_keys = int(engine.query(f"SELECT COUNT(*) FROM {groups} WHERE {q.DIFF}")[0][0])
    return groups, (int(dup[0]), int(dup[1])), n_keys


def _one_pass_fits(engine: Engine, source_rows: tuple[int, int] | None) -> bool:
    """Whether the one pass's join table of head's rows fits the engine's memory (when both are known)."""
    limit = engine.memory_limit_bytes()
    return source_rows is None or limit is None or source_rows[1] * ONE_PASS_BYTES_PER_ROW <= limit


def _side_rows(engine: Engine, base: exp.Expr, head: exp.Expr, known: tuple[int, int] | None) -> tuple[int, int]:
    if known is not None:
        return known
    dialect = engine.DIALECT
    counted = [int(engine.query(q.count_rows(s).sql(dialect))[0][0]) for s in (base, head)]
    return counted[0], counted[1]


@dataclass(frozen=True)
class _OnePass:
    base: exp.Expr  # base's differing rows, stored
    head: exp.Expr  # head's rows of the differing keys, stored
    rows: tuple[int, int]  # how many of each
    profiles: tuple[dict[str, Profile], dict[str, Profile]] | None


def _stored(columns: Sequence[q.DiffColumn]) -> list[q.DiffColumn]:
    """The columns of stored rows: their values are stored cast as compared."""
    return [replace(c, cast=None, cast_head=False) for c in columns]


def _one_pass(
    engine: Engine, scratch: _Scratch, base: exp.Expr, head: exp.Expr, key: Sequence[str],
    columns: Sequence[q.DiffColumn], source_rows: tuple[int, int] | None, profile: bool,
    exact: tuple[Mapping[str, ExactStats], Mapping[str, ExactStats]] | None = None,
) -> tuple[_OnePass | None, bool]:
    """Base's and head's differing rows, stored, and (``profile``) both sides' profiles, with one
    read of base (``onepass``); and whether a key repeats. None when a key repeats, or when the
    differing rows do not fit in memory to be gathered (the general path's join can spill)."""
    import duckdb

    dialect = engine.DIALECT
    try:
        known = op.known_figures(columns, exact) if profile and exact is not None else {}
        groups = scratch.store("f", op.joined_pass(base, head, key, columns, dialect, profile=profile,
                                                   known=known).sql(dialect))
    except duckdb.OutOfMemoryException:
        return None, False
    stored = (scratch.store("c0", op.base_rows(groups, dialect).sql(dialect)),
              scratch.store("c1", q.key_rows(head, scratch.store("w", op.differing_keys(groups, dialect).sql(
                  dialect)), 1, key, columns, dialect).sql(dialect)))
    n, equal, differing, rows_b, keys_b, rows_h, keys_h = (
        int(v) for v in engine.query(op.unique_check(groups, stored, key, dialect).sql(dialect))[0])
    rows = _side_rows(engine, base, head, source_rows)
    if n != rows[0] + rows[1] or rows_b != keys_b or rows_h != keys_h:
        return None, True
    profiles = None
    if profile:
        parts = [p for p, present in ((op.EQUAL, equal), (op.DIFFERING, differing)) if present]
        if not parts:  # nothing joined: both sides are empty
            profiles = profiles_from_row(None, columns), profiles_from_row(None, columns)
        else:
            sql = op.combined_profiles(groups, stored[1], columns, parts, dialect, known).sql(dialect)
            by_side = {r["__side"]: r for r in engine.query_arrow(sql).to_pylist()}
            if known and exact is not None:
                for side in (0, 1):
                    _fill_known(by_side[side], columns, known, exact[side])
            profiles = profiles_from_row(by_side[0], columns), profiles_from_row(by_side[1], columns)
    return _OnePass(q.source(stored[0], dialect), q.source(stored[1], dialect), (rows_b, rows_h), profiles), False


def _fill_known(row: dict[str, Any], columns: Sequence[q.DiffColumn], known: Mapping[str, frozenset[str]],
                exact: Mapping[str, ExactStats]) -> None:
    """Put the figures the pass left out (``known``) into its profile ``row``, from the manifests."""
    for i, c in enumerate(columns):
        skip = known.get(c.name, frozenset())
        if op.COUNTED in skip:
            row[f"n{i}"] = exact[c.name].values
        if op.BOUNDED in skip:
            row[f"lo{i}"], row[f"hi{i}"] = exact[c.name].lo, exact[c.name].hi


def _fetch(
    engine: Engine, scratch: _Scratch, src: exp.Expr | None, groups: str, side: int, key: Sequence[str],
    columns: Sequence[q.DiffColumn], fold: bool,
) -> tuple[exp.Expr | None, dict[str, Profile]]:
    """The rows of ``src`` whose key differs, stored; with ``fold`` also ``src``'s profiles."""
    dialect = engine.DIALECT
    if src is None:
        return None, profiles_from_row(None, columns)
    if not fold:
        stored = scratch.store(f"c{side}", q.key_rows(src, groups, side, key, columns, dialect).sql(dialect))
        return q.source(stored, dialect), {}
    query, names = kq.fetch_and_profile(src, groups, side, key, columns, dialect)
    gathered = scratch.store(f"p{side}", query.sql(dialect))
    prof = profiles_from_row(one_row(engine, kq.profile_of(gathered, names, dialect).sql(dialect)), columns)
    stored = scratch.store(f"c{side}", kq.unnested(gathered, dialect).sql(dialect))
    return q.source(stored, dialect), prof
