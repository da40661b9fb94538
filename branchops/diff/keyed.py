"""The keyed diff of a large table in two scans of each side (queries for ``rows``).

1. ``join_groups``: every row as ``(key, row hash)``, base FULL OUTER JOIN head on the key
   (NULL-safe), grouped by whether the two hashes differ and, only when they do, by key: one row
   for all the rows that are equal, one per key that differs. A join of the two sides is much
   cheaper than grouping their union by key, but it is exact only when each key occurs at most
   once per side; ``join_check`` proves that from the same table: a key with ``nb`` base and
   ``nh`` head rows yields ``nb * nh`` joined rows (``nb`` or ``nh`` when the other side lacks it),
   so ``joined + matched == base rows + head rows`` exactly when no key on both sides repeats, and
   a key on one side only repeats iff its (differing) group counts more than one row. When the
   check fails, ``rows`` falls back to ``queries.key_groups``, which counts duplicate keys.
2. ``fetch_and_profile``: one scan of a side computes its column profiles and gathers the rows of
   the differing keys (``ARRAY_AGG ... FILTER``), so the profile needs no scan of its own;
   ``unnested`` turns the gathered rows into a table. Used while the gathered rows are few
   (``rows.FOLD_MAX_CELLS``), as a list cannot spill to disk.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from branchops.diff.queries import (
    DIFF,
    HASH,
    NB,
    NH,
    DiffColumn,
    aliased,
    column_ref,
    compared_value,
    profiles,
    row_hash,
)

MATCHED, JOINED, ROWS = "__m", "__j", "__rows"


def _side(src: exp.Expr, key: Sequence[str], columns: Sequence[DiffColumn], side: int, dialect: str) -> exp.Select:
    by_name = {c.name: c for c in columns}
    return exp.select(
        *[exp.alias_(compared_value(by_name[k], side), k, quoted=True) for k in key],
        exp.alias_(row_hash(columns, side, dialect), HASH),
    ).from_(aliased(src, "t"), copy=False)


def join_groups(
    base: exp.Expr, head: exp.Expr, key: Sequence[str], columns: Sequence[DiffColumn], dialect: str
) -> exp.Select:
    """``(keys..., __nb, __nh, __m, __j, __d)``: one row with ``__d`` false for the joined rows
    whose hashes are equal (keys NULL), one per key whose rows differ (see the module doc)."""
    hb, hh = exp.column(HASH, "b"), exp.column(HASH, "h")
    differs = exp.NullSafeNEQ(this=hb, expression=hh)
    on = exp.and_(*[exp.NullSafeEQ(this=column_ref(k, "b"), expression=column_ref(k, "h")) for k in key])
    joined = (
        exp.select(
            *[exp.alias_(exp.Case(ifs=[exp.If(this=differs.copy(), true=exp.Coalesce(
                this=column_ref(k, "b"), expressions=[column_ref(k, "h")]))]), k, quoted=True) for k in key],
            exp.alias_(hb.copy(), "__hb"), exp.alias_(hh.copy(), "__hh"), exp.alias_(differs.copy(), DIFF),
        )
        .from_(_side(base, key, columns, 0, dialect).subquery("b"), copy=False)
        .join(_side(head, key, columns, 1, dialect).subquery("h"), on=on, join_type="FULL OUTER", copy=False)
    )
    both = exp.and_(exp.Not(this=exp.Is(this=exp.column("__hb"), expression=exp.Null())),
                    exp.Not(this=exp.Is(this=exp.column("__hh"), expression=exp.Null())))
    return exp.select(
        *[column_ref(k) for k in key],
        exp.alias_(exp.Count(this=exp.column("__hb")), NB),
        exp.alias_(exp.Count(this=exp.column("__hh")), NH),
        exp.alias_(exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=both)), MATCHED),
        exp.alias_(exp.Count(this=exp.Star()), JOINED),
        exp.column(DIFF),
    ).from_(joined.subquery("j"), copy=False).group_by(exp.column(DIFF), *[column_ref(k) for k in key], copy=False)


def total(name: str) -> exp.Expr:
    """``COALESCE(SUM(name), 0)``."""
    return exp.Coalesce(this=exp.Sum(this=exp.column(name)), expressions=[exp.Literal.number(0)])


def join_check(groups: str, dialect: str) -> exp.Select:
    """One row: joined + matched rows, the most rows of a differing key per side, differing keys."""
    def top(name: str) -> exp.Expr:
        return exp.Coalesce(this=exp.Filter(this=exp.Max(this=exp.column(name)),
                                            expression=exp.Where(this=exp.column(DIFF))),
                            expressions=[exp.Literal.number(0)])

    n_diff = exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=exp.column(DIFF)))
    return exp.select(
        exp.alias_(exp.Add(this=total(JOINED), expression=total(MATCHED)), "n"),
        exp.alias_(top(NB), "nb"), exp.alias_(top(NH), "nh"), exp.alias_(n_diff, "k"),
    ).from_(exp.to_table(groups, dialect=dialect), copy=False)


def fetch_and_profile(
    src: exp.Expr, groups: str, side: int, key: Sequence[str], columns: Sequence[DiffColumn], dialect: str
) -> tuple[exp.Select, list[str]]:
    """One row: the profile of ``src`` (as ``queries.profiles``) and ``__rows``, the rows of the
    keys that differ in ``groups`` (values cast as the diff compares them); also the profile's
    column names."""
    by_name = {c.name: c for c in columns}
    prof = profiles(src, columns, side)
    names = [e.alias_or_name for e in prof.expressions]
    marks = [f"__k{i}" for i in range(len(key))]
    wanted = (
        exp.select(*[exp.alias_(column_ref(k), m) for k, m in zip(key, marks, strict=True)],
                   exp.alias_(exp.true(), "__w"))
        .from_(exp.to_table(groups, dialect=dialect), copy=False)
        .where(exp.column(DIFF), copy=False)
    )
    on = exp.and_(*[exp.NullSafeEQ(this=compared_value(by_name[k], side, "t"), expression=exp.column(m, "g"))
                    for k, m in zip(key, marks, strict=True)])
    row = exp.Struct(expressions=[
        exp.PropertyEQ(this=exp.to_identifier(c.name, quoted=True), expression=compared_value(c, side, "t"))
        for c in columns
    ])
    gathered = exp.Filter(this=exp.ArrayAgg(this=row), expression=exp.Where(this=exp.column("__w", "g")))
    query = (
        exp.select(*prof.expressions, exp.alias_(gathered, ROWS))
        .from_(aliased(src, "t"), copy=False)
        .join(wanted.subquery("g"), on=on, join_type="LEFT", copy=False)
    )
    return query, names


def profile_of(table: str, names: Sequence[str], dialect: str) -> exp.Select:
    return exp.select(*[exp.column(exp.to_identifier(n, quoted=True)) for n in names]).from_(
        exp.to_table(table, dialect=dialect), copy=False)


def unnested(table: str, dialect: str) -> exp.Select:
    """The rows gathered by ``fetch_and_profile`` (stored in ``table``) as a table."""
    return exp.select(unnest_rows(ROWS)).from_(exp.to_table(table, dialect=dialect), copy=False)


def unnest_rows(column: str) -> exp.Unnest:
    """A list of row structs as rows, one column per field: two levels (the list, then the row),
    not ``recursive``, which would also spread a struct column's fields into columns of their own."""
    depth = exp.Kwarg(this=exp.var("max_depth"), expression=exp.Literal.number(2))
    return exp.Unnest(expressions=[exp.column(column), depth])
