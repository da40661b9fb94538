"""The diff queries as sqlglot expressions; ``.sql(dialect)`` renders them for an engine.

How a table is diffed, in the engine:

1. ``residue_hashes``: hash every row (over the columns both sides share) and sum +1 per base row,
   -1 per head row, grouped by hash; what does not cancel is the multiset difference. Only
   8-byte hashes are aggregated, never whole rows.
2. ``residue_rows``: fetch the rows behind those hashes (as many copies as did not cancel), tagged
   ``__side`` 0 (base only) or 1 (head only). This is small when the change is.
3. Keyed: ``keyed_counts`` / ``keyed_samples`` pair the residue rows by key (the n-th base row of a
   key with its n-th head row); a pair is changed when a non-key column differs (NULL equals NULL,
   floats beyond the tolerance). Keyless: the residues are the added and removed rows.

Dialect differences are the few builders in :data:`ROW_HASH`; everything else is plain sqlglot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

SIDE, HASH, MULT, RN = "__side", "__h", "__n", "__rn"


@dataclass(frozen=True)
class DiffColumn:
    """A column both sides share. ``cast`` is set when the types differ: the base side is cast to it
    (and the head side too when ``cast_head``: types that do not widen are compared as text)."""

    name: str
    cast: exp.DataType | None = None
    cast_head: bool = False
    is_float: bool = False
    numeric: bool = False
    orderable: bool = True


def _duckdb_hash(values: list[exp.Expr]) -> exp.Expr:
    return exp.Anonymous(this="HASH", expressions=values)


def _trino_hash(values: list[exp.Expr]) -> exp.Expr:
    row = exp.Anonymous(this="ROW", expressions=values)
    text = exp.JSONFormat(this=exp.cast(row, exp.DataType.build("JSON")))
    return exp.Anonymous(this="XXHASH64", expressions=[exp.Anonymous(this="TO_UTF8", expressions=[text])])


#: dialect -> how to hash a row (NULLs hash alike; equal values of one type hash alike)
ROW_HASH: dict[str, Callable[[list[exp.Expr]], exp.Expr]] = {
    "duckdb": _duckdb_hash,
    "trino": _trino_hash,
}

#: dialect -> a row hash as a number SUM adds up exactly (DuckDB: UBIGINT, summed as HUGEINT)
HASH_NUMBER: dict[str, Callable[[exp.Expr], exp.Expr]] = {
    "duckdb": lambda h: h,
    "trino": lambda h: exp.cast(exp.Anonymous(this="FROM_BIG_ENDIAN_64", expressions=[h]),
                                exp.DataType.build("DECIMAL(38, 0)", dialect="trino")),
}


def source(sql: str, dialect: str) -> exp.Expr:
    """A relation name (``"a"."b"."c"``) or a table function (``read_parquet([...])``) as sqlglot."""
    if "(" in sql:
        return sqlglot.parse_one(sql, read=dialect)
    return exp.to_table(sql, dialect=dialect)


def aliased(src: exp.Expr, alias: str) -> exp.Expr:
    if isinstance(src, exp.Table):
        return src.as_(alias)
    return exp.Table(this=src, alias=exp.TableAlias(this=exp.to_identifier(alias)))


def column_ref(name: str, table: str | None = None) -> exp.Column:
    return exp.column(exp.to_identifier(name, quoted=True), table=table)


def compared_value(c: DiffColumn, side: int, table: str | None = None) -> exp.Expr:
    col: exp.Expr = column_ref(c.name, table)
    return exp.cast(col, c.cast) if c.cast is not None and (side == 0 or c.cast_head) else col


def row_hash(columns: Sequence[DiffColumn], side: int, dialect: str) -> exp.Expr:
    return ROW_HASH[dialect]([compared_value(c, side) for c in columns])


def _hashed(src: exp.Expr, columns: Sequence[DiffColumn], side: int, dialect: str, *, values: bool) -> exp.Select:
    sel: list[exp.Expr] = [exp.alias_(row_hash(columns, side, dialect), HASH)]
    if values:
        sel += [exp.alias_(compared_value(c, side), c.name, quoted=True) for c in columns]
    else:
        sel.append(exp.alias_(exp.Literal.number(1 if side == 0 else -1), "__s"))
    return exp.select(*sel).from_(aliased(src, "t"), copy=False)


def residue_hashes(
    base: exp.Expr | None, head: exp.Expr | None, columns: Sequence[DiffColumn], dialect: str
) -> exp.Select:
    """``(__h, __n)``: hashes whose count differs; ``__n`` > 0 more copies in base, < 0 in head."""
    parts = [_hashed(src, columns, side, dialect, values=False) for side, src in ((0, base), (1, head)) if src]
    union: exp.Query = parts[0]
    for p in parts[1:]:
        union = exp.union(union, p, distinct=False)
    total = exp.Sum(this=exp.column("__s"))
    return (
        exp.select(exp.column(HASH), exp.alias_(total.copy(), MULT))
        .from_(union.subquery("u"), copy=False)
        .group_by(exp.column(HASH), copy=False)
        .having(exp.NEQ(this=total, expression=exp.Literal.number(0)), copy=False)
    )


def residue_rows(
    base: exp.Expr | None,
    head: exp.Expr | None,
    hashes: str | exp.Select,
    columns: Sequence[DiffColumn],
    dialect: str,
) -> exp.Query:
    """``(__side, __h, cols...)``: the rows behind ``hashes`` (a table holding ``residue_hashes``,
    or that query itself, for an engine where a stored result costs statements of its own)."""
    found = exp.to_table(hashes, dialect=dialect).as_("d") if isinstance(hashes, str) else hashes.subquery("d")
    names = [exp.column(exp.to_identifier(c.name, quoted=True)) for c in columns]
    parts: list[exp.Select] = []
    for side, src in ((0, base), (1, head)):
        if src is None:
            continue
        wanted = exp.GT(this=exp.column(MULT, "d"), expression=exp.Literal.number(0)) if side == 0 else exp.LT(
            this=exp.column(MULT, "d"), expression=exp.Literal.number(0)
        )
        copies = exp.Abs(this=exp.column(MULT, "d"))
        rn = exp.Window(this=exp.RowNumber(), partition_by=[exp.column(HASH, "r")])
        inner = (
            exp.select(exp.column(HASH, "r"), *[exp.column(n.this, "r") for n in names],
                       exp.alias_(rn, RN), exp.alias_(copies, MULT))
            .from_(_hashed(src, columns, side, dialect, values=True).subquery("r"), copy=False)
            .join(found.copy(),
                  on=exp.and_(exp.EQ(this=exp.column(HASH, "r"), expression=exp.column(HASH, "d")), wanted),
                  copy=False)
        )
        parts.append(
            exp.select(exp.alias_(exp.Literal.number(side), SIDE), exp.column(HASH), *names)
            .from_(inner.subquery("x"), copy=False)
            .where(exp.LTE(this=exp.column(RN), expression=exp.column(MULT)), copy=False)
        )
    query: exp.Query = parts[0]
    for p in parts[1:]:
        query = exp.union(query, p, distinct=False)
    return query


# -- keyed: one pass that also counts duplicate keys --------------------------------------------
NB, NH, DIFF = "__nb", "__nh", "__d"


def _side_filter(agg: exp.Expr, side: int) -> exp.Expr:
    return exp.Filter(this=agg, expression=exp.Where(
        this=exp.EQ(this=exp.column(SIDE), expression=exp.Literal.number(side))))


def key_groups(
    base: exp.Expr | None, head: exp.Expr | None, key: Sequence[str], columns: Sequence[DiffColumn], dialect: str
) -> exp.Select:
    """``(keys..., __nb, __nh, __d)``: per key value, its rows on each side and whether they differ
    (``__d``: other counts or other sums of row hashes); only keys that differ or occur more than
    once on a side. One pass over each side replaces ``residue_hashes`` and ``duplicate_keys``."""
    by_name = {c.name: c for c in columns}
    parts: list[exp.Select] = []
    for side, src in ((0, base), (1, head)):
        if src is None:
            continue
        parts.append(exp.select(
            *[exp.alias_(compared_value(by_name[k], side), k, quoted=True) for k in key],
            exp.alias_(row_hash(columns, side, dialect), HASH), exp.alias_(exp.Literal.number(side), SIDE),
        ).from_(aliased(src, "t"), copy=False))
    union: exp.Query = parts[0]
    for p in parts[1:]:
        union = exp.union(union, p, distinct=False)
    keys = [column_ref(k) for k in key]
    grouped = exp.select(
        *keys,
        exp.alias_(_side_filter(exp.Count(this=exp.Star()), 0), NB),
        exp.alias_(_side_filter(exp.Count(this=exp.Star()), 1), NH),
        exp.alias_(_side_filter(exp.Sum(this=HASH_NUMBER[dialect](exp.column(HASH))), 0), "__sb"),
        exp.alias_(_side_filter(exp.Sum(this=HASH_NUMBER[dialect](exp.column(HASH))), 1), "__sh"),
    ).from_(union.subquery("u"), copy=False).group_by(*[k.copy() for k in keys], copy=False)
    differs = exp.or_(exp.NEQ(this=exp.column(NB), expression=exp.column(NH)),
                      exp.NullSafeNEQ(this=exp.column("__sb"), expression=exp.column("__sh")))
    dup = [exp.GT(this=exp.column(n), expression=exp.Literal.number(1)) for n in (NB, NH)]
    return (
        exp.select(*[k.copy() for k in keys], exp.column(NB), exp.column(NH), exp.alias_(differs.copy(), DIFF))
        .from_(grouped.subquery("g"), copy=False)
        .where(exp.or_(differs, *dup), copy=False)
    )


def duplicate_counts(groups: str, dialect: str) -> exp.Select:
    """One row: key values seen more than once on base, on head (from a table of ``key_groups``)."""
    return exp.select(*[
        exp.alias_(exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(
            this=exp.GT(this=exp.column(n), expression=exp.Literal.number(1)))), n)
        for n in (NB, NH)
    ]).from_(exp.to_table(groups, dialect=dialect), copy=False)


def key_rows(
    src: exp.Expr, groups: str, side: int, key: Sequence[str], columns: Sequence[DiffColumn], dialect: str
) -> exp.Select:
    """The rows of ``src`` whose key differs in ``groups`` (values cast as the diff compares them)."""
    by_name = {c.name: c for c in columns}
    on = exp.and_(*[exp.NullSafeEQ(this=compared_value(by_name[k], side, "t"), expression=column_ref(k, "g"))
                    for k in key])
    wanted = (exp.select(*[column_ref(k) for k in key]).from_(exp.to_table(groups, dialect=dialect), copy=False)
              .where(exp.column(DIFF), copy=False))
    return (
        exp.select(*[exp.alias_(compared_value(c, side, "t"), c.name, quoted=True) for c in columns])
        .from_(aliased(src, "t"), copy=False)
        .join(wanted.subquery("g"), on=on, copy=False)
    )


# -- keyed pairing over the residue rows --------------------------------------------------------
def _numbered(residue: str, side: int, key: Sequence[str], dialect: str) -> exp.Select:
    rn = exp.Window(
        this=exp.RowNumber(),
        partition_by=[column_ref(k) for k in key],
        order=exp.Order(expressions=[exp.Ordered(this=exp.column(HASH))]),
    )
    return (
        exp.select(exp.Star(), exp.alias_(rn, RN))
        .from_(exp.to_table(residue, dialect=dialect), copy=False)
        .where(exp.EQ(this=exp.column(SIDE), expression=exp.Literal.number(side)), copy=False)
    )


def _paired(residue: str, key: Sequence[str], dialect: str) -> exp.Select:
    on = exp.and_(
        *[exp.NullSafeEQ(this=column_ref(k, "b"), expression=column_ref(k, "h")) for k in key],
        exp.EQ(this=exp.column(RN, "b"), expression=exp.column(RN, "h")),
    )
    return exp.select().from_(_numbered(residue, 0, key, dialect).subquery("b"), copy=False).join(
        _numbered(residue, 1, key, dialect).subquery("h"), on=on, join_type="FULL OUTER", copy=False)


def column_differs(c: DiffColumn, tolerance: float) -> exp.Expr:
    """b.c vs h.c: NULL equals NULL; floats differ only beyond ``tolerance``."""
    b, h = column_ref(c.name, "b"), column_ref(c.name, "h")
    if not c.is_float:
        return exp.NullSafeNEQ(this=b, expression=h)
    both_null = exp.and_(exp.Is(this=b.copy(), expression=exp.Null()), exp.Is(this=h.copy(), expression=exp.Null()))
    one_null = exp.or_(exp.Is(this=b.copy(), expression=exp.Null()), exp.Is(this=h.copy(), expression=exp.Null()))
    beyond = exp.GT(this=exp.Abs(this=exp.Sub(this=b.copy(), expression=h.copy())),
                    expression=exp.Literal.number(tolerance))
    return exp.Case(
        ifs=[exp.If(this=both_null, true=exp.false()), exp.If(this=one_null, true=exp.true())], default=beyond
    )


def _count_if(cond: exp.Expr, alias: str) -> exp.Expr:
    case = exp.Case(ifs=[exp.If(this=cond, true=exp.Literal.number(1))], default=exp.Literal.number(0))
    return exp.alias_(exp.Coalesce(this=exp.Sum(this=case), expressions=[exp.Literal.number(0)]), alias)


def _missing(side: str) -> exp.Expr:
    return exp.Is(this=exp.column(RN, side), expression=exp.Null())


def _both() -> exp.Expr:
    return exp.and_(exp.not_(_missing("b")), exp.not_(_missing("h")))


def keyed_counts(
    residue: str, key: Sequence[str], values: Sequence[DiffColumn], tolerance: float, dialect: str
) -> exp.Select:
    """One row: added, removed, changed, then ``c<i>`` = rows whose i-th value column changed."""
    diffs = [column_differs(c, tolerance) for c in values]
    any_diff: exp.Expr = exp.or_(*diffs) if diffs else exp.false()
    return _paired(residue, key, dialect).select(
        _count_if(_missing("b"), "added"),
        _count_if(_missing("h"), "removed"),
        _count_if(exp.and_(_both(), any_diff), "changed"),
        *[_count_if(exp.and_(_both(), d), f"c{i}") for i, d in enumerate(diffs)],
        copy=False,
    )


def keyed_samples(
    residue: str, key: Sequence[str], values: Sequence[DiffColumn], tolerance: float, kind: str, limit: int,
    dialect: str,
) -> exp.Select:
    """Up to ``limit`` rows of ``kind`` (added / removed / changed), ordered by key.

    added: ``k<i>, v<j>`` (head values); removed: the same from base; changed: ``k<i>, b<j>, h<j>, d<j>``
    (``d<j>`` says whether value column j differs).
    """
    diffs = [column_differs(c, tolerance) for c in values]
    q = _paired(residue, key, dialect)
    if kind == "changed":
        side = "b"
        sel = [exp.alias_(column_ref(k, "b"), f"k{i}") for i, k in enumerate(key)]
        for j, c in enumerate(values):
            sel += [exp.alias_(column_ref(c.name, "b"), f"b{j}"), exp.alias_(column_ref(c.name, "h"), f"h{j}"),
                    exp.alias_(diffs[j].copy(), f"d{j}")]
        cond: exp.Expr = exp.and_(_both(), exp.or_(*diffs) if diffs else exp.false())
    else:
        side = "h" if kind == "added" else "b"
        sel = [exp.alias_(column_ref(k, side), f"k{i}") for i, k in enumerate(key)]
        sel += [exp.alias_(column_ref(c.name, side), f"v{j}") for j, c in enumerate(values)]
        cond = _missing("b" if kind == "added" else "h")
    order = [exp.Ordered(this=column_ref(k, side), nulls_first=True) for k in key]
    order.append(exp.Ordered(this=exp.column(RN, side)))
    return q.select(*sel, copy=False).where(cond, copy=False).order_by(*order, copy=False).limit(limit, copy=False)


# -- keyless ------------------------------------------------------------------------------------
def side_counts(residue: str, dialect: str) -> exp.Select:
    """``(__side, n)`` rows of the residue per side: removed (0) and added (1) in a keyless diff."""
    return (
        exp.select(exp.column(SIDE), exp.alias_(exp.Count(this=exp.Star()), "n"))
        .from_(exp.to_table(residue, dialect=dialect), copy=False)
        .group_by(exp.column(SIDE), copy=False)
    )


def side_samples(residue: str, side: int, columns: Sequence[DiffColumn], limit: int, dialect: str) -> exp.Select:
    return (
        exp.select(*[exp.alias_(column_ref(c.name), f"v{j}") for j, c in enumerate(columns)])
        .from_(exp.to_table(residue, dialect=dialect), copy=False)
        .where(exp.EQ(this=exp.column(SIDE), expression=exp.Literal.number(side)), copy=False)
        .order_by(exp.column(HASH), copy=False)
        .limit(limit, copy=False)
    )


# -- whole-side figures -------------------------------------------------------------------------
def count_rows(src: exp.Expr) -> exp.Select:
    return exp.select(exp.alias_(exp.Count(this=exp.Star()), "n")).from_(aliased(src, "t"), copy=False)


def scalars(queries: Sequence[exp.Select]) -> exp.Select:
    """One row holding each one-value query's answer (``v0``, ``v1``, ...): one statement instead
    of several, so an engine's fixed cost per query is paid once."""
    return exp.select(*[exp.alias_(sub.subquery(), f"v{i}") for i, sub in enumerate(queries)])


def duplicate_keys(src: exp.Expr, key: Sequence[str], within: exp.Expr | None = None) -> exp.Select:
    """How many key values occur more than once in ``src`` (only keys that occur in ``within``, if given)."""
    cols = [column_ref(k, "t") for k in key]
    rows = exp.select(*cols).from_(aliased(src, "t"), copy=False)
    if within is not None:
        wanted = exp.select(*[column_ref(k) for k in key]).distinct().from_(aliased(within, "w"), copy=False)
        on = exp.and_(*[exp.NullSafeEQ(this=column_ref(k, "t"), expression=column_ref(k, "f")) for k in key])
        rows = rows.join(wanted.subquery("f"), on=on, copy=False)
    more_than_once = exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1))
    groups = rows.group_by(*cols, copy=False).having(more_than_once, copy=False)
    return exp.select(exp.alias_(exp.Count(this=exp.Star()), "n")).from_(groups.subquery("g"), copy=False)


def profiles(src: exp.Expr, columns: Sequence[DiffColumn], side: int) -> exp.Select:
    """One row: ``rows``, then per column i ``n<i>`` (non-null), ``d<i>``, ``lo<i>``, ``hi<i>``, ``m<i>``."""
    sel: list[exp.Expr] = [exp.alias_(exp.Count(this=exp.Star()), "rows")]
    for i, c in enumerate(columns):
        v = compared_value(c, side)
        sel += [exp.alias_(exp.Count(this=v.copy()), f"n{i}"),
                exp.alias_(exp.ApproxDistinct(this=v.copy()), f"d{i}")]
        if c.orderable:
            sel += [exp.alias_(exp.Min(this=v.copy()), f"lo{i}"), exp.alias_(exp.Max(this=v.copy()), f"hi{i}")]
        if c.numeric:
            sel.append(exp.alias_(exp.Avg(this=exp.cast(v.copy(), exp.DataType.build("DOUBLE"))), f"m{i}"))
    return exp.select(*sel).from_(aliased(src, "t"), copy=False)
