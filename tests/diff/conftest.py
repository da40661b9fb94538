"""A real embedded lakehouse per test, and the independent answers the diff is checked against."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from branchops.config import Settings
from branchops.lakehouse import Lakehouse


@pytest.fixture
def lh(tmp_path: Path) -> Iterator[Lakehouse]:
    house = Lakehouse(Settings(root=tmp_path))
    yield house
    house.close()


def write(lh: Lakehouse, table: str, data: pa.Table | list[dict[str, Any]], *, branch: str = "main",
          mode: str = "append", schema: pa.Schema | None = None,
          evolve: Callable[[Any], None] | None = None) -> None:
    """Write rows to ``table`` on ``branch``; ``evolve(update_schema)`` changes the schema first."""
    arrow = data if isinstance(data, pa.Table) else pa.Table.from_pylist(data, schema=schema)
    with lh.writing(branch, f"test write {table}") as w:
        cat = w.iceberg
        if table not in lh.catalog.tables(w.branch):
            tbl = cat.create_table(table, schema=arrow.schema)
        else:
            tbl = cat.load_table(table)
        if evolve is not None:
            with tbl.update_schema() as upd:
                evolve(upd)
            tbl = cat.load_table(table)
        arrow = arrow.cast(tbl.schema().as_arrow()) if arrow.num_rows else tbl.schema().as_arrow().empty_table()
        if mode == "append":
            tbl.append(arrow)
        else:
            tbl.overwrite(arrow)


def differs(a: Any, b: Any, tol: float) -> bool:
    if a is None and b is None:
        return False
    if a is None or b is None:
        return True
    if isinstance(a, float) or isinstance(b, float):
        return math.fabs(a - b) > tol
    return bool(a != b)


def expected_keyed(base: Sequence[dict[str, Any]], head: Sequence[dict[str, Any]], key: Sequence[str],
                   tol: float) -> dict[str, Any]:
    """Plain Python: a keyed diff of rows with unique keys, over the columns both sides share."""
    common = [c for c in head[0] if c in base[0]] if base and head else []
    values = [c for c in common if c not in key]
    b = {tuple(r[k] for k in key): r for r in base}
    h = {tuple(r[k] for k in key): r for r in head}
    per_col = dict.fromkeys(values, 0)
    changed = 0
    for k in b.keys() & h.keys():
        cols = [c for c in values if differs(b[k][c], h[k][c], tol)]
        changed += bool(cols)
        for c in cols:
            per_col[c] += 1
    return {"added": len(h.keys() - b.keys()), "removed": len(b.keys() - h.keys()), "changed": changed,
            "columns": per_col, "base": len(base), "head": len(head)}


def expected_keyless(base: Sequence[dict[str, Any]], head: Sequence[dict[str, Any]]) -> dict[str, int]:
    common = [c for c in head[0] if c in base[0]]
    cb = Counter(tuple(r[c] for c in common) for r in base)
    ch = Counter(tuple(r[c] for c in common) for r in head)
    return {"added": sum((ch - cb).values()), "removed": sum((cb - ch).values())}


def expected_profile(rows: Sequence[dict[str, Any]], col: str) -> dict[str, Any]:
    vals = [r[col] for r in rows if r[col] is not None]
    numeric = bool(vals) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in vals)
    return {"rows": len(rows), "nulls": len(rows) - len(vals), "distinct": len(set(vals)),
            "min": min(vals) if vals else None, "max": max(vals) if vals else None,
            "mean": (sum(vals) / len(vals)) if vals and numeric else None}
