"""The keyed diff in one query, with no stored intermediate results (``ONE_QUERY_KEYED_DIFF``).

For an engine where every stored result costs statements of its own (Trino: a memory-connector
table written, read and dropped), the keyed diff of a table whose keys are unique is two queries:

1. ``paired_counts``: base FULL OUTER JOIN head on the key (NULL-safe), aggregated in one pass:
   added, removed and changed rows, changed rows per column, and each side's column profiles.
   It also proves its own premise (as ``keyed.join_check``): ``joined + matched == base rows +
   head rows`` holds exactly when no key on both sides repeats, and a key on one side only
   repeats iff the distinct keys of the added (removed) rows are fewer than those rows. Every
   row of a side then meets the join exactly once, so the profiles over the join are the side's.
2. ``paired_samples``: up to ``n`` added, removed and changed rows, ordered by key, from the same
   join (only when something differs).

Without a key (``keyless_diff``) it is the multiset difference of row hashes, with no stored
result either: one query counts the rows only in base and only in head (``GROUP BY`` hash, the
copies per side summed), a second fetches up to ``n`` sample rows of each side (only when
something differs).

When the proof fails (a repeated key) the caller takes the general path, which pairs the n-th
rows of a repeated key and counts duplicate keys; on unique keys both paths agree exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from branchops.diff.model import ChangedRow, Profile, RowCounts, Samples
from branchops.diff.profile import one_row
from branchops.diff.queries import (
    HASH,
    MULT,
    SIDE,
    DiffColumn,
    aliased,
    column_differs,
    column_ref,
    compared_value,
    residue_hashes,
    residue_rows,
    row_hash,
)

if TYPE_CHECKING:
    from branchops.engine.base import Engine

KINDS = ("added", "removed", "changed")


@dataclass(frozen=True)
class Paired:
    rows: RowCounts
    columns: dict[str, int]
    samples: Samples
    profiles: tuple[dict[str, Profile], dict[str, Profile]] | None


KEY_HASH = "__kh"


def _side(src: exp.Expr, key: Sequence[str], columns: Sequence[DiffColumn], side: int,
          dialect: str) -> exp.Select:
    by_name = {c.name: c for c in columns}
    return exp.select(
        *[exp.alias_(compared_value(c, side), c.name, quoted=True) for c in columns],
        exp.alias_(row_hash(columns, side, dialect), HASH),
        exp.alias_(row_hash([by_name[k] for k in key], side, dialect), KEY_HASH),
    ).from_(aliased(src, "t"), copy=False)


def empty_like(src: exp.Expr) -> exp.Expr:
    """No rows, with ``src``'s columns (the side of a diff that reads no files)."""
    return exp.select(exp.Star()).from_(aliased(src, "e"), copy=False).where(exp.false(), copy=False).subquery()


def _joined(base: exp.Expr, head: exp.Expr, key: Sequence[str], columns: Sequence[DiffColumn],
            dialect: str) -> exp.Select:
    # An equality on the key's hash makes it a hash join (a NULL-safe comparison alone is a nested
    # loop in Trino); the comparison of the keys themselves keeps it exact.
    on = exp.and_(exp.EQ(this=exp.column(KEY_HASH, "b"), expression=exp.column(KEY_HASH, "h")),
                  *[exp.NullSafeEQ(this=column_ref(k, "b"), expression=column_ref(k, "h")) for k in key])
    return exp.select().from_(_side(base, key, columns, 0, dialect).subquery("b"), copy=False).join(
        _side(head, key, columns, 1, dialect).subquery("h"), on=on, join_type="FULL OUTER", copy=False)


def _missing(side: str) -> exp.Expr:
    return exp.Is(this=exp.column(HASH, side), expression=exp.Null())


def _moved() -> exp.Expr:
    both = exp.and_(exp.not_(_missing("b")), exp.not_(_missing("h")))
    return exp.and_(both, exp.NEQ(this=exp.column(HASH, "b"), expression=exp.column(HASH, "h")))


def _distinct_keys(key: Sequence[str], side: str, other: str) -> exp.Expr:
    row = exp.Anonymous(this="ROW", expressions=[column_ref(k, side) for k in key])
    case = exp.Case(ifs=[exp.If(this=_missing(other), true=row)])
    return exp.Count(this=exp.Distinct(expressions=[case]))


def _profile(columns: Sequence[DiffColumn], side: str) -> list[exp.Expr]:
    """``queries.profiles`` over one side of the join, names suffixed with the side."""
    sel: list[exp.Expr] = [exp.alias_(exp.Count(this=exp.column(HASH, side)), f"rows_{side}")]
    for i, c in enumerate(columns):
        v = column_ref(c.name, side)
        sel += [exp.alias_(exp.Count(this=v.copy()), f"n{i}_{side}"),
                exp.alias_(exp.ApproxDistinct(this=v.copy()), f"d{i}_{side}")]
        if c.orderable:
            sel += [exp.alias_(exp.Min(this=v.copy()), f"lo{i}_{side}"),
                    exp.alias_(exp.Max(this=v.copy()), f"hi{i}_{side}")]
        if c.numeric:
            sel.append(exp.alias_(exp.Avg(this=exp.cast(v.copy(), exp.DataType.build("DOUBLE"))), f"m{i}_{side}"))
    return sel


def duplicate_keys(src: exp.Expr, key: Sequence[str], columns: Sequence[DiffColumn], side: int,
                   within: exp.Expr, dialect: str) -> exp.Select:
    """As ``queries.duplicate_keys`` (key values seen more than once in ``src``, of those in
    ``within``), through an IN on the key's hash (a hash semi-join) instead of a NULL-safe join."""
    by_name = {c.name: c for c in columns}
    kh = row_hash([by_name[k] for k in key], side, dialect)
    wanted = exp.select(exp.alias_(kh.copy(), KEY_HASH)).from_(aliased(within, "w"), copy=False)
    rows = (exp.select(*[exp.alias_(compared_value(by_name[k], side), k, quoted=True) for k in key])
            .from_(aliased(src, "t"), copy=False)
            .where(exp.In(this=kh, query=wanted.subquery()), copy=False))
    more_than_once = exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1))
    groups = (exp.select(*[column_ref(k) for k in key]).from_(rows.subquery("r"), copy=False)
              .group_by(*[column_ref(k) for k in key], copy=False).having(more_than_once, copy=False))
    return exp.select(exp.alias_(exp.Count(this=exp.Star()), "n")).from_(groups.subquery("g"), copy=False)


def paired_counts(base: exp.Expr, head: exp.Expr, key: Sequence[str], columns: Sequence[DiffColumn],
                  values: Sequence[DiffColumn], tolerance: float, dialect: str, *, profile: bool) -> exp.Select:
    """One row: ``__j``, ``__m`` (joined, matched rows), ``__ka``, ``__kr`` (distinct keys of added,
    removed rows), added, removed, changed, ``c<i>`` per value column, then the profiles."""
    diffs = [column_differs(c, tolerance) for c in values]
    any_diff: exp.Expr = exp.or_(*diffs) if diffs else exp.false()
    both = exp.and_(exp.not_(_missing("b")), exp.not_(_missing("h")))
    sel: list[exp.Expr] = [
        exp.alias_(exp.Count(this=exp.Star()), "__j"),
        exp.alias_(exp.CountIf(this=both), "__m"),
        exp.alias_(_distinct_keys(key, "h", "b"), "__ka"),
        exp.alias_(_distinct_keys(key, "b", "h"), "__kr"),
        exp.alias_(exp.CountIf(this=_missing("b")), "added"),
        exp.alias_(exp.CountIf(this=_missing("h")), "removed"),
        exp.alias_(exp.CountIf(this=exp.and_(_moved(), any_diff)), "changed"),
        *[exp.alias_(exp.CountIf(this=exp.and_(_moved(), d)), f"c{i}") for i, d in enumerate(diffs)],
    ]
    if profile:
        sel += _profile(columns, "b") + _profile(columns, "h")
    return _joined(base, head, key, columns, dialect).select(*sel, copy=False)


def paired_samples(base: exp.Expr, head: exp.Expr, key: Sequence[str], columns: Sequence[DiffColumn],
                   values: Sequence[DiffColumn], tolerance: float, limit: int, dialect: str) -> exp.Select:
    """``(__kind, k<i>, b<j>, h<j>, d<j>)``: up to ``limit`` rows of each kind, ordered by key."""
    diffs = [column_differs(c, tolerance) for c in values]
    any_diff: exp.Expr = exp.or_(*diffs) if diffs else exp.false()
    kind = exp.Case(ifs=[
        exp.If(this=_missing("b"), true=exp.Literal.number(0)),
        exp.If(this=_missing("h"), true=exp.Literal.number(1)),
        exp.If(this=exp.and_(_moved(), any_diff), true=exp.Literal.number(2)),
    ])
    sel: list[exp.Expr] = [exp.alias_(kind, "__kind")]
    sel += [exp.alias_(exp.Coalesce(this=column_ref(k, "b"), expressions=[column_ref(k, "h")]), f"k{i}")
            for i, k in enumerate(key)]
    for j, c in enumerate(values):
        sel += [exp.alias_(column_ref(c.name, "b"), f"b{j}"), exp.alias_(column_ref(c.name, "h"), f"h{j}"),
                exp.alias_(diffs[j].copy(), f"d{j}")]
    tagged = _joined(base, head, key, columns, dialect).select(*sel, copy=False)
    order = exp.Order(expressions=[exp.Ordered(this=exp.column(f"k{i}"), nulls_first=True) for i in range(len(key))])
    rn = exp.Window(this=exp.RowNumber(), partition_by=[exp.column("__kind")], order=order)
    numbered = (exp.select(exp.Star(), exp.alias_(rn, "__rn")).from_(tagged.subquery("x"), copy=False)
                .where(exp.not_(exp.Is(this=exp.column("__kind"), expression=exp.Null())), copy=False))
    out_order = [exp.Ordered(this=exp.column("__kind")), exp.Ordered(this=exp.column("__rn"))]
    return (exp.select(exp.Star()).from_(numbered.subquery("y"), copy=False)
            .where(exp.LTE(this=exp.column("__rn"), expression=exp.Literal.number(limit)), copy=False)
            .order_by(*out_order, copy=False))


def _side_profiles(row: dict[str, Any], columns: Sequence[DiffColumn], side: str) -> dict[str, Profile]:
    rows = int(row[f"rows_{side}"])
    return {
        c.name: Profile(rows=rows, nulls=rows - int(row[f"n{i}_{side}"]), distinct=int(row[f"d{i}_{side}"] or 0),
                        min=row.get(f"lo{i}_{side}"), max=row.get(f"hi{i}_{side}"), mean=row.get(f"m{i}_{side}"))
        for i, c in enumerate(columns)
    }


def paired_diff(
    engine: Engine, base: exp.Expr, head: exp.Expr, key: Sequence[str], columns: Sequence[DiffColumn],
    rows: tuple[int, int], counts: tuple[int, int], tolerance: float, sample: int, *, profile: bool,
) -> Paired | None:
    """The keyed diff of ``base`` and ``head`` (``rows`` rows each) in one or two queries; None
    when a key repeats (then the general path must pair and count the repeats)."""
    dialect = engine.DIALECT
    values = [c for c in columns if c.name not in key]
    row = one_row(engine, paired_counts(base, head, key, columns, values, tolerance, dialect,
                                        profile=profile).sql(dialect))
    added, removed = int(row["added"]), int(row["removed"])
    unique = (int(row["__j"]) + int(row["__m"]) == rows[0] + rows[1]
              and int(row["__ka"]) == added and int(row["__kr"]) == removed)
    if not unique:
        return None
    changed = int(row["changed"])
    per_col = {c.name: int(row[f"c{i}"]) for i, c in enumerate(values)}
    samples = Samples()
    if sample > 0 and added + removed + changed:
        samples = _samples(engine, paired_samples(base, head, key, columns, values, tolerance, sample,
                                                  dialect).sql(dialect), key, values)
    profiles = (_side_profiles(row, columns, "b"), _side_profiles(row, columns, "h")) if profile else None
    return Paired(RowCounts(counts[0], counts[1], added, removed, changed), per_col, samples, profiles)


def _samples(engine: Engine, sql: str, key: Sequence[str], values: Sequence[DiffColumn]) -> Samples:
    found: dict[int, list[Any]] = {0: [], 1: [], 2: []}
    for r in engine.query_arrow(sql).to_pylist():
        k = {name: r[f"k{i}"] for i, name in enumerate(key)}
        kind = int(r["__kind"])
        if kind == 2:
            diff = [j for j in range(len(values)) if r[f"d{j}"]]
            found[2].append(ChangedRow(key=k, base={values[j].name: r[f"b{j}"] for j in diff},
                                       head={values[j].name: r[f"h{j}"] for j in diff}))
        else:
            side = "h" if kind == 0 else "b"
            found[kind].append({**k, **{c.name: r[f"{side}{j}"] for j, c in enumerate(values)}})
    return Samples(tuple(found[0]), tuple(found[1]), tuple(found[2]))


def keyless_counts(base: exp.Expr | None, head: exp.Expr | None, columns: Sequence[DiffColumn],
                   dialect: str) -> exp.Select:
    """One row ``(removed, added)``: copies of a row hash more in base, more in head."""
    n = exp.column(MULT)
    zero = exp.Literal.number(0)
    more = {"removed": (exp.GT(this=n.copy(), expression=zero.copy()), n.copy()),
            "added": (exp.LT(this=n.copy(), expression=zero.copy()), exp.Neg(this=n.copy()))}
    sums = {name: exp.Sum(this=exp.Case(ifs=[exp.If(this=cond, true=value)], default=zero.copy()))
            for name, (cond, value) in more.items()}
    sel = [exp.alias_(exp.Coalesce(this=total, expressions=[zero.copy()]), name) for name, total in sums.items()]
    return exp.select(*sel).from_(residue_hashes(base, head, columns, dialect).subquery("g"), copy=False)


def keyless_samples(base: exp.Expr | None, head: exp.Expr | None, columns: Sequence[DiffColumn], limit: int,
                    dialect: str) -> exp.Select:
    """``(__side, v<j>...)``: up to ``limit`` rows of each side's excess, ordered by row hash."""
    residue = residue_rows(base, head, residue_hashes(base, head, columns, dialect), columns, dialect)
    rn = exp.Window(this=exp.RowNumber(), partition_by=[exp.column(SIDE)],
                    order=exp.Order(expressions=[exp.Ordered(this=exp.column(HASH))]))
    numbered = exp.select(exp.Star(), exp.alias_(rn, "__k")).from_(residue.subquery("r"), copy=False)
    return (exp.select(exp.column(SIDE), *[exp.alias_(column_ref(c.name), f"v{j}") for j, c in enumerate(columns)])
            .from_(numbered.subquery("x"), copy=False)
            .where(exp.LTE(this=exp.column("__k"), expression=exp.Literal.number(limit)), copy=False)
            .order_by(exp.column(SIDE), exp.column("__k"), copy=False))


def keyless_diff(engine: Engine, base: exp.Expr | None, head: exp.Expr | None, columns: Sequence[DiffColumn],
                 counts: tuple[int, int], sample: int) -> tuple[RowCounts, Samples]:
    """The keyless diff of ``base`` and ``head`` (None: no rows) in one query, two with samples."""
    dialect = engine.DIALECT
    row = one_row(engine, keyless_counts(base, head, columns, dialect).sql(dialect))
    removed, added = int(row["removed"]), int(row["added"])
    samples = Samples()
    if sample > 0 and added + removed:
        found: dict[int, list[dict[str, Any]]] = {0: [], 1: []}
        for r in engine.query_arrow(keyless_samples(base, head, columns, sample, dialect).sql(dialect)).to_pylist():
            found[int(r[SIDE])].append({c.name: r[f"v{j}"] for j, c in enumerate(columns)})
        samples = Samples(added=tuple(found[1]), removed=tuple(found[0]))
    return RowCounts(counts[0], counts[1], added, removed, None), samples
