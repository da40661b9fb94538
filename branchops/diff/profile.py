"""Column profiles and capped samples, read from the engine (only aggregates and a few rows)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from branchops.diff import queries as q
from branchops.diff.model import ChangedRow, Profile, Samples

if TYPE_CHECKING:
    from sqlglot import exp

    from branchops.diff.model import DiffOptions
    from branchops.engine.base import Engine


def one_row(engine: Engine, sql: str) -> dict[str, Any]:
    tbl = engine.query_arrow(sql)
    return {name: col[0].as_py() for name, col in zip(tbl.column_names, tbl.columns, strict=True)}


def scan_profiles(
    engine: Engine, src: exp.Expr | None, columns: Sequence[q.DiffColumn], side: int, dialect: str
) -> dict[str, Profile]:
    """Nulls, approximate distinct, min, max and mean of every column, in one pass over ``src``."""
    if src is None:
        return profiles_from_row(None, columns)
    return profiles_from_row(one_row(engine, q.profiles(src, columns, side).sql(dialect)), columns)


def profiles_from_row(row: dict[str, Any] | None, columns: Sequence[q.DiffColumn]) -> dict[str, Profile]:
    """The profiles in a row of ``queries.profiles`` (None: a side without rows)."""
    if row is None:
        return {c.name: Profile(0, 0, 0, None, None, None) for c in columns}
    rows = int(row["rows"])
    return {
        c.name: Profile(
            rows=rows, nulls=rows - int(row[f"n{i}"]), distinct=int(row[f"d{i}"]),
            min=row.get(f"lo{i}"), max=row.get(f"hi{i}"), mean=row.get(f"m{i}"),
        )
        for i, c in enumerate(columns)
    }


def _rows(engine: Engine, sql: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = engine.query_arrow(sql).to_pylist()
    return rows


def table_samples(
    engine: Engine, residue: str, key: Sequence[str], values: Sequence[q.DiffColumn], opts: DiffOptions,
    dialect: str,
) -> Samples:
    """Up to ``opts.sample`` added, removed and changed rows; changed rows show only what changed."""
    if opts.sample <= 0:
        return Samples()
    found: dict[str, list[dict[str, Any]]] = {}
    for kind in ("added", "removed"):
        sql = q.keyed_samples(residue, key, values, opts.tolerance, kind, opts.sample, dialect).sql(dialect)
        found[kind] = [
            {**{k: r[f"k{i}"] for i, k in enumerate(key)}, **{c.name: r[f"v{j}"] for j, c in enumerate(values)}}
            for r in _rows(engine, sql)
        ]
    sql = q.keyed_samples(residue, key, values, opts.tolerance, "changed", opts.sample, dialect).sql(dialect)
    changed = []
    for r in _rows(engine, sql):
        diff = [j for j in range(len(values)) if r[f"d{j}"]]
        changed.append(ChangedRow(
            key={k: r[f"k{i}"] for i, k in enumerate(key)},
            base={values[j].name: r[f"b{j}"] for j in diff},
            head={values[j].name: r[f"h{j}"] for j in diff},
        ))
    return Samples(tuple(found["added"]), tuple(found["removed"]), tuple(changed))


def side_samples(engine: Engine, residue: str, columns: Sequence[q.DiffColumn], limit: int, dialect: str) -> Samples:
    """Keyless: up to ``limit`` rows only in head (added) and only in base (removed)."""
    if limit <= 0:
        return Samples()
    got = [
        tuple({c.name: r[f"v{j}"] for j, c in enumerate(columns)}
              for r in _rows(engine, q.side_samples(residue, side, columns, limit, dialect).sql(dialect)))
        for side in (1, 0)
    ]
    return Samples(added=got[0], removed=got[1])
