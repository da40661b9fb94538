"""The keyed diff with one read of base and a key-filtered read of head (DuckDB, ``FAST_KEYED_DIFF``).

1. ``joined_pass``: base (every compared value and a row hash) FULL OUTER JOIN head (the key and a
   row hash) on the key (NULL-safe), grouped by whether the two hashes differ (``__d``). Per group:
   joined and matched rows, base's rows, when profiling the partial column profiles of base
   (approximate distinct counts and means as DuckDB aggregate states), and, for the differing
   rows, base's rows (``__rows``) and head's keys (``__keys``) gathered in lists. Only head's key
   and hash enter the join's hash table; base is the streamed side.
2. ``key_rows`` (``queries``): head's rows of those keys, a join with a table of a few keys.
3. ``combined_profiles``: a row of base in the group of equal hashes equals its head row, so that
   group's partial profile is also head's profile of those rows: base's profile combines its two
   groups, head's combines the equal group with a profile of head's differing rows. Merged
   approximate distinct counts are exact merges (``combine`` of HyperLogLog states), so every
   figure is what a scan of the side gives.

A side read as its whole set of data files (no delete files) has exact non-null counts for every
column, and exact min and max for integer columns, in its manifests (``snapshots.exact_stats``):
the passes leave those figures out (``known_figures``) and the caller fills them in, so the one
pass over 10M rows computes fewer aggregates. String bounds may be truncated and float bounds skip
NaN: those are always computed.

The keys are proven unique as in ``keyed.join_check``: joined + matched rows == base rows + head
rows exactly when no key on both sides repeats, and a key on one side only is a differing row, so
it repeats iff the differing rows of that side hold fewer distinct keys than rows. When the proof
fails the caller groups by key (``queries.key_groups``).

sqlglot has no node for DuckDB's ``EXPORT_STATE``: :func:`_state` renders the aggregate and
appends the keyword (this module only ever renders for DuckDB).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from sqlglot import exp

from branchops.diff.keyed import JOINED, MATCHED, ROWS, total, unnest_rows
from branchops.diff.queries import DIFF, DiffColumn, aliased, column_ref, compared_value, row_hash, scalars

if TYPE_CHECKING:
    from branchops.diff.snapshots import ExactStats

KEYS = "__keys"
HB, HH = "__hb", "__hh"
EQUAL, DIFFERING, HEAD_ROWS = "e", "x", "y"  # aliases of the partial profiles in ``combined_profiles``
COUNTED, BOUNDED = "n", "bounds"  # figures the manifests may give exactly (``known_figures``)


def _state(agg: exp.Expr) -> exp.Expr:
    """``agg EXPORT_STATE``: the aggregate's state, which ``combine`` merges and ``finalize`` ends."""
    return exp.Var(this=f"{agg.sql('duckdb')} EXPORT_STATE")


def _key_mark(i: int) -> str:
    return f"__k{i}"


def known_figures(columns: Sequence[DiffColumn], exact: tuple[Mapping[str, ExactStats], Mapping[str, ExactStats]]
                  ) -> dict[str, frozenset[str]]:
    """Per column, the figures (:data:`COUNTED`, :data:`BOUNDED`) both sides' manifests give
    exactly, which the passes then leave out; only for values compared as stored (no cast)."""
    out: dict[str, frozenset[str]] = {}
    for c in columns:
        b, h = exact[0].get(c.name), exact[1].get(c.name)
        if c.cast is not None or b is None or h is None:
            continue
        out[c.name] = frozenset({COUNTED} | ({BOUNDED} if b.bounded and h.bounded and c.orderable else set()))
    return out


def _partials(columns: Sequence[DiffColumn], rows: exp.Expr, known: Mapping[str, frozenset[str]]) -> list[exp.Expr]:
    """The partial profile of ``columns`` (values as stored: already cast as compared):
    ``rows``, then per column i ``n<i>``, ``d<i>`` (state), ``lo<i>``, ``hi<i>``, ``m<i>`` (state),
    without the figures ``known`` from the manifests."""
    sel: list[exp.Expr] = [exp.alias_(rows, "rows")]
    for i, c in enumerate(columns):
        v = column_ref(c.name)
        skip = known.get(c.name, frozenset())
        if COUNTED not in skip:
            sel.append(exp.alias_(exp.Count(this=v.copy()), f"n{i}"))
        sel.append(exp.alias_(_state(exp.ApproxDistinct(this=v.copy())), f"d{i}"))
        if c.orderable and BOUNDED not in skip:
            sel += [exp.alias_(exp.Min(this=v.copy()), f"lo{i}"), exp.alias_(exp.Max(this=v.copy()), f"hi{i}")]
        if c.numeric:
            sel.append(exp.alias_(_state(exp.Avg(this=exp.cast(v.copy(), exp.DataType.build("DOUBLE")))), f"m{i}"))
    return sel


def joined_pass(base: exp.Expr, head: exp.Expr, key: Sequence[str], columns: Sequence[DiffColumn],
                dialect: str, *, profile: bool, known: Mapping[str, frozenset[str]] | None = None) -> exp.Select:
    """``(__d, __j, __m, rows, [partial profile of base,] __rows, __keys)`` per group (see the module
    doc); the profile leaves out the figures ``known`` from the manifests (``known_figures``)."""
    by_name = {c.name: c for c in columns}
    b = exp.select(
        *[exp.alias_(compared_value(c, 0), c.name, quoted=True) for c in columns],
        exp.alias_(row_hash(columns, 0, dialect), HB),
    ).from_(aliased(base, "t"), copy=False)
    h = exp.select(
        *[exp.alias_(compared_value(by_name[k], 1), _key_mark(i)) for i, k in enumerate(key)],
        exp.alias_(row_hash(columns, 1, dialect), HH),
    ).from_(aliased(head, "t"), copy=False)
    on = exp.and_(*[exp.NullSafeEQ(this=column_ref(k, "b"), expression=exp.column(_key_mark(i), "h"))
                    for i, k in enumerate(key)])
    differs = exp.NullSafeNEQ(this=exp.column(HB, "b"), expression=exp.column(HH, "h"))
    joined = (
        exp.select(exp.Star(), exp.alias_(differs, DIFF))
        .from_(b.subquery("b"), copy=False)
        .join(h.subquery("h"), on=on, join_type="FULL OUTER", copy=False)
    )
    has = {side: exp.not_(exp.Is(this=exp.column(name), expression=exp.Null()))
           for side, name in (("b", HB), ("h", HH))}
    base_row = exp.Struct(expressions=[
        exp.PropertyEQ(this=exp.to_identifier(c.name, quoted=True), expression=column_ref(c.name)) for c in columns])
    head_key = exp.Struct(expressions=[
        exp.PropertyEQ(this=exp.to_identifier(k, quoted=True), expression=exp.column(_key_mark(i)))
        for i, k in enumerate(key)])
    sel: list[exp.Expr] = [
        exp.column(DIFF),
        exp.alias_(exp.Count(this=exp.Star()), JOINED),
        exp.alias_(exp.Filter(this=exp.Count(this=exp.Star()),
                              expression=exp.Where(this=exp.and_(has["b"].copy(), has["h"].copy()))), MATCHED),
    ]
    rows = exp.Count(this=exp.column(HB))
    sel += _partials(columns, rows, known or {}) if profile else [exp.alias_(rows, "rows")]
    for gathered, present, alias in ((base_row, has["b"], ROWS), (head_key, has["h"], KEYS)):
        wanted = exp.and_(exp.column(DIFF), present)
        # the CASE builds the struct only for the wanted rows (an argument is computed for every row)
        only = exp.Case(ifs=[exp.If(this=wanted.copy(), true=gathered)])
        sel.append(exp.alias_(exp.Filter(this=exp.ArrayAgg(this=only), expression=exp.Where(this=wanted)), alias))
    return exp.select(*sel).from_(joined.subquery("j"), copy=False).group_by(exp.column(DIFF), copy=False)


def differing_keys(table: str, dialect: str) -> exp.Select:
    """``(keys..., __d)``: head's keys of the differing rows, shaped for ``queries.key_rows``."""
    return (exp.select(unnest_rows(KEYS), exp.alias_(exp.true(), DIFF))
            .from_(exp.to_table(table, dialect=dialect), copy=False).where(exp.column(DIFF), copy=False))


def base_rows(table: str, dialect: str) -> exp.Select:
    """Base's differing rows gathered by ``joined_pass`` as a table."""
    return (exp.select(unnest_rows(ROWS))
            .from_(exp.to_table(table, dialect=dialect), copy=False).where(exp.column(DIFF), copy=False))


def _distinct_keys(key: Sequence[str]) -> exp.Expr:
    return exp.Count(this=exp.Distinct(expressions=[
        exp.Anonymous(this="ROW", expressions=[column_ref(k) for k in key])]))


def unique_check(groups: str, rows: tuple[str, str], key: Sequence[str], dialect: str) -> exp.Select:
    """One row: joined + matched rows, the groups of equal and of differing hashes (0 or 1 each),
    then per side (base, head) the differing rows and their distinct keys."""
    groups_at = [exp.Add(this=total(JOINED), expression=total(MATCHED)),
                 exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=exp.not_(exp.column(DIFF)))),
                 exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=exp.column(DIFF)))]
    sel = [exp.select(agg).from_(exp.to_table(groups, dialect=dialect), copy=False) for agg in groups_at]
    for table in rows:
        sel += [exp.select(agg).from_(exp.to_table(table, dialect=dialect), copy=False)
                for agg in (exp.Count(this=exp.Star()), _distinct_keys(key))]
    return scalars(sel)


def combined_profiles(groups: str, head_rows: str, columns: Sequence[DiffColumn], parts: Sequence[str],
                      dialect: str, known: Mapping[str, frozenset[str]] | None = None) -> exp.Select:
    """Two rows (``__side`` 0, 1) shaped as ``queries.profiles``: each side's profile from the
    partial profiles present (``parts``: ``e``, the group of equal hashes; ``x``, the differing
    one; at least one); head's differing rows (``head_rows``) are profiled here. The figures
    ``known`` from the manifests are left out, as ``joined_pass`` left them out."""
    known = known or {}
    def group(alias: str, differing: bool) -> exp.Expr:
        cond: exp.Expr = exp.column(DIFF) if differing else exp.not_(exp.column(DIFF))
        return exp.select(exp.Star()).from_(exp.to_table(groups, dialect=dialect), copy=False).where(
            cond, copy=False).subquery(alias)

    stored = [DiffColumn(c.name, numeric=c.numeric, orderable=c.orderable) for c in columns]
    y = exp.select(*_partials(stored, exp.Count(this=exp.Star()), known)).from_(
        exp.to_table(head_rows, dialect=dialect), copy=False).subquery(HEAD_ROWS)
    sides = ((0, [p for p in (EQUAL, DIFFERING) if p in parts]), (1, [p for p in (EQUAL,) if p in parts] + [HEAD_ROWS]))
    out: list[exp.Select] = []
    for side, names in sides:
        sources = [y if n == HEAD_ROWS else group(n, n == DIFFERING) for n in names]
        sel: list[exp.Expr] = [exp.alias_(exp.Literal.number(side), "__side"), _fold(exp.Add, "rows", names)]
        for i, c in enumerate(stored):
            skip = known.get(c.name, frozenset())
            if COUNTED not in skip:
                sel.append(_fold(exp.Add, f"n{i}", names))
            sel.append(_finalized(f"d{i}", names))
            if c.orderable and BOUNDED not in skip:
                sel += [_fold(_least, f"lo{i}", names), _fold(_greatest, f"hi{i}", names)]
            if c.numeric:
                sel.append(_finalized(f"m{i}", names))
        query = exp.select(*sel).from_(sources[0], copy=False)
        for s in sources[1:]:
            query = query.join(s, join_type="CROSS", copy=False)
        out.append(query)
    return exp.union(out[0], out[1], distinct=False)  # type: ignore[return-value]


# DuckDB's LEAST and GREATEST skip NULLs, as MIN and MAX do; sqlglot's nodes would be rendered to
# give NULL when any argument is NULL, so these are plain calls
def _least(this: exp.Expr, expression: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this="LEAST", expressions=[this, expression])


def _greatest(this: exp.Expr, expression: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this="GREATEST", expressions=[this, expression])


def _fold(op: object, name: str, parts: Sequence[str]) -> exp.Expr:
    """``op`` over ``name`` of every part."""
    acc: exp.Expr = exp.column(name, parts[0])
    for p in parts[1:]:
        acc = op(this=acc, expression=exp.column(name, p))  # type: ignore[operator]
    return exp.alias_(acc, name)


def _finalized(name: str, parts: Sequence[str]) -> exp.Expr:
    acc: exp.Expr = exp.column(name, parts[0])
    for p in parts[1:]:
        acc = exp.Anonymous(this="COMBINE", expressions=[acc, exp.column(name, p)])
    return exp.alias_(exp.Anonymous(this="FINALIZE", expressions=[acc]), name)
