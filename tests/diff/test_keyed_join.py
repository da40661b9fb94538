"""The keyed diff's fast paths agree with the group-by path and with plain Python: the join of
``(key, row hash)`` (unique keys), its fallback when a key repeats, and the profiles computed in
the pass that fetches the differing rows vs a profile scan of their own."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import sqlglot

from branchops.diff import Method, diff_refs, keyed
from branchops.diff import rows as rows_mod
from branchops.engine.duckdb import DuckDBEngine
from branchops.lakehouse import Lakehouse
from tests.diff.conftest import expected_keyed, expected_profile, write
from tests.diff.test_compute import SCHEMA, TOL, check_keyed, mutate, orders


class SpyEngine(DuckDBEngine):
    """Records the scratch tables a diff stores (their names say which path ran)."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.stored: list[str] = []

    def materialize(self, name: str, sql: str) -> str:
        self.stored.append(name.removeprefix("__branchops_diff_").rstrip("0123456789"))
        return super().materialize(name, sql)


@pytest.fixture
def spy(lh: Lakehouse) -> Iterator[SpyEngine]:
    with SpyEngine(lh.catalog) as engine:
        yield engine


def _force_group_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A check that never passes: every keyed diff takes the group-by path."""
    monkeypatch.setattr(keyed, "join_check", lambda groups, dialect: sqlglot.select("-1", "0", "0", "0"))


def _same(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Equal diffs; float means may differ in the last bits (threaded summation order)."""
    pa, pb = a.pop("profiles"), b.pop("profiles")
    assert a == b
    assert pa.keys() == pb.keys()
    for col, sides in pa.items():
        for side, p in sides.items():
            other = pb[col][side]
            assert {k: v for k, v in p.items() if k != "mean"} == {k: v for k, v in other.items() if k != "mean"}
            assert (p["mean"] is None and other["mean"] is None) or math.isclose(p["mean"], other["mean"])


def test_join_path_and_folded_profiles_equal_the_group_path(
    lh: Lakehouse, spy: SpyEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = orders(300)
    head = mutate(base)
    base.append({"id": None, "customer": 1, "amount": 2.0, "status": "x", "qty": 1})  # NULL key: unique too
    head.append({"id": None, "customer": 1, "amount": 3.0, "status": "x", "qty": 1})
    write(lh, "raw.orders", base, schema=SCHEMA)
    lh.catalog.create_branch("feat", "main")
    write(lh, "raw.orders", head, schema=SCHEMA, branch="feat", mode="overwrite")

    def run() -> Any:
        spy.stored.clear()
        return diff_refs(lh, "main", "feat", engine=spy, keys={"raw.orders": ("id",)}, sample=4).table("raw.orders")

    fast = run()
    assert fast.method is Method.FULL_SCAN and fast.profile_source == "scan"
    assert "j" in spy.stored and "k" not in spy.stored and {"p", "c"} <= set(spy.stored)  # join, folded
    exp = expected_keyed(base[:-1], head[:-1], ["id"], TOL)
    exp.update(base=len(base), head=len(head), changed=exp["changed"] + 1)  # the NULL key's amount
    exp["columns"]["amount"] += 1
    check_keyed(fast, exp)
    assert (fast.duplicate_keys.base, fast.duplicate_keys.head) == (0, 0)
    for side, data in (("base", base), ("head", head)):
        for col in ("customer", "amount", "status", "qty"):
            p, e = getattr(fast.profiles[col], side), expected_profile(data, col)
            assert (p.rows, p.nulls, p.min, p.max) == (e["rows"], e["nulls"], e["min"], e["max"])
            assert abs(p.distinct - e["distinct"]) <= max(3, 0.15 * e["distinct"])  # approximate
            assert (p.mean is None) == (e["mean"] is None) and (p.mean is None or math.isclose(p.mean, e["mean"]))

    monkeypatch.setattr(rows_mod, "FOLD_MAX_CELLS", 0)  # too many rows to gather: fetch by join, scan profiles
    unfolded = run()
    assert "j" in spy.stored and "p" not in spy.stored and "c" in spy.stored
    _same(unfolded.to_dict(), fast.to_dict())

    monkeypatch.setattr(SpyEngine, "FAST_KEYED_DIFF", False)  # the portable path other engines (Trino) take
    monkeypatch.setattr(rows_mod, "FOLD_MAX_CELLS", 10**9)
    portable = run()
    assert "k" in spy.stored and "j" not in spy.stored and "p" not in spy.stored
    _same(portable.to_dict(), fast.to_dict())
    monkeypatch.setattr(SpyEngine, "FAST_KEYED_DIFF", True)

    _force_group_path(monkeypatch)
    grouped = run()
    assert "k" in spy.stored and "p" in spy.stored
    _same(grouped.to_dict(), fast.to_dict())


@pytest.mark.parametrize("case", ["both_sides", "head_only", "base_only", "null_key"])
def test_a_repeated_key_falls_back_to_counting_duplicates(lh: Lakehouse, spy: SpyEngine, case: str) -> None:
    base = [{"k": i, "v": i % 7, "s": f"s{i}"} for i in range(60)]
    head = [dict(r, v=r["v"] + (r["k"] % 9 == 0)) for r in base if r["k"] != 5]
    extra = {"both_sides": ([{"k": 3, "v": 3, "s": "s3"}], [{"k": 3, "v": 4, "s": "s3"}]),
             "head_only": ([], [{"k": 500, "v": 1, "s": "a"}, {"k": 500, "v": 1, "s": "a"}]),
             "base_only": ([{"k": 5, "v": 5, "s": "s5"}], []),
             "null_key": ([{"k": None, "v": 1, "s": "n"}], [{"k": None, "v": 1, "s": "n"}] * 2)}[case]
    base, head = base + extra[0], head + extra[1]
    write(lh, "raw.d", base)
    lh.catalog.create_branch("feat", "main")
    write(lh, "raw.d", head, branch="feat", mode="overwrite")

    def run() -> Any:
        spy.stored.clear()
        return diff_refs(lh, "main", "feat", engine=spy, keys={"raw.d": ("k",)}, sample=3).table("raw.d")

    t = run()
    assert spy.stored[:2] == ["j", "k"]  # the join's check failed: grouped by key
    dups = [sum(n > 1 for n in Counter(r["k"] for r in rows).values()) for rows in (base, head)]
    assert (t.duplicate_keys.base, t.duplicate_keys.head) == tuple(dups) and sum(dups) >= 1
    # the multiset of rows: what did not cancel is added or removed or changed
    cb, ch = Counter(tuple(r.values()) for r in base), Counter(tuple(r.values()) for r in head)
    only_b, only_h = sum((cb - ch).values()), sum((ch - cb).values())
    assert (t.rows.removed + t.rows.changed, t.rows.added + t.rows.changed) == (only_b, only_h)
    assert t.profiles["v"].head.rows == len(head) and t.profiles["s"].base.rows == len(base)


def test_fetch_and_profile_sql() -> None:
    from branchops.diff import queries as q

    src = q.source('"main"."raw"."t"', "duckdb")
    cols = [q.DiffColumn("id"), q.DiffColumn("n", cast=sqlglot.exp.DataType.build("BIGINT"), numeric=True)]
    query, names = keyed.fetch_and_profile(src, "g", 0, ["id"], cols, "duckdb")
    assert names == ["rows", "n0", "d0", "lo0", "hi0", "n1", "d1", "lo1", "hi1", "m1"]
    sql = query.sql("duckdb")
    assert sql.endswith(
        "ARRAY_AGG({'id': t.\"id\", 'n': CAST(t.\"n\" AS BIGINT)}) FILTER(WHERE g.__w) AS __rows "
        'FROM "main"."raw"."t" AS t LEFT JOIN (SELECT "id" AS __k0, TRUE AS __w FROM g WHERE __d) AS g '
        'ON t."id" IS NOT DISTINCT FROM g.__k0'
    )
    assert keyed.unnested("p", "duckdb").sql("duckdb") == "SELECT UNNEST(__rows, recursive => TRUE) FROM p"
    joined = keyed.join_groups(src, src, ["id"], cols, "duckdb").sql("duckdb")
    assert 'FULL OUTER JOIN' in joined and 'ON b."id" IS NOT DISTINCT FROM h."id"' in joined
    assert joined.endswith('GROUP BY __d, "id"')
