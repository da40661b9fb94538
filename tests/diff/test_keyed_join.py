"""The keyed diff's fast paths agree with the group-by path and with plain Python: the one pass
over base (unique keys, profiles merged from partial profiles), the join of ``(key, row hash)``,
their fallback when a key repeats, and the profiles computed in the pass that fetches the
differing rows vs a profile scan of their own."""

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
    assert spy.stored[:1] == ["f"] and not {"j", "k", "p"} & set(spy.stored)  # one pass
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

    monkeypatch.setattr(rows_mod, "_one_pass", lambda *a: (None, False))  # as when the rows do not fit in memory
    joined = run()
    assert "j" in spy.stored and "k" not in spy.stored and {"p", "c"} <= set(spy.stored)  # join, folded
    _same(joined.to_dict(), fast.to_dict())

    monkeypatch.setattr(rows_mod, "FOLD_MAX_CELLS", 0)  # too many rows to gather: fetch by join, scan profiles
    unfolded = run()
    assert "j" in spy.stored and "p" not in spy.stored and "c" in spy.stored
    _same(unfolded.to_dict(), fast.to_dict())

    monkeypatch.setattr(SpyEngine, "FAST_KEYED_DIFF", False)  # the portable path other engines (Trino) take
    monkeypatch.setattr(rows_mod, "FOLD_MAX_CELLS", 10**9)
    portable = run()
    assert "k" in spy.stored and not {"f", "j", "p"} & set(spy.stored)
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
    assert spy.stored[0] == "f" and "k" in spy.stored and "j" not in spy.stored  # one pass failed its check
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
    assert keyed.unnested("p", "duckdb").sql("duckdb") == "SELECT UNNEST(__rows, max_depth => 2) FROM p"
    joined = keyed.join_groups(src, src, ["id"], cols, "duckdb").sql("duckdb")
    assert 'FULL OUTER JOIN' in joined and 'ON b."id" IS NOT DISTINCT FROM h."id"' in joined
    assert joined.endswith('GROUP BY __d, "id"')


def _edge_case(case: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows keyed by (k, g) (``g`` NULL for some keys) with NULLs and floats, and a head per case."""
    base = [{"k": i, "g": None if i % 4 == 0 else f"g{i % 3}", "f": i / 8, "s": None if i % 5 == 0 else f"s{i % 6}",
             "n": None if i % 7 == 0 else i % 11} for i in range(80)]
    base.append({"k": None, "g": None, "f": None, "s": None, "n": None})  # an all-NULL row, its key NULL
    if case == "all_differ":  # no row is equal: base's profile comes from its differing rows only
        return base, [dict(r, f=(r["f"] or 0) + 1.0) for r in base]
    if case == "none_differ":  # a rewrite with the same rows: no differing row (head's are NULL: LEAST skips)
        return base, [dict(r) for r in base]
    if case == "below_tolerance":  # rows differ only by noise under the tolerance: not changed
        return base, [dict(r, f=r["f"] + 1e-12) if r["k"] is not None and r["k"] % 3 == 0 else r for r in base]
    # mixed: added, removed, changed (to NULL, from NULL, a float beyond the tolerance), all-NULL kept
    head = [dict(r) for r in base if r["k"] not in (1, 2, 3)]
    for r in head:
        if r["k"] is not None and r["k"] % 9 == 4:
            r.update(s=None, n=None)  # value to NULL
        elif r["k"] is not None and r["k"] % 10 == 5:
            r.update(s="new", f=r["f"] + 0.5)
    head += [{"k": 1000 + i, "g": None, "f": None, "s": "added", "n": i} for i in range(3)]
    return base, head


@pytest.mark.parametrize("case", ["mixed", "all_differ", "none_differ", "below_tolerance"])
def test_one_pass_equals_python_and_the_portable_path(
    lh: Lakehouse, spy: SpyEngine, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    import pyarrow as pa

    schema = pa.schema([("k", pa.int64()), ("g", pa.string()), ("f", pa.float64()), ("s", pa.string()),
                        ("n", pa.int32())])
    base, head = _edge_case(case)
    write(lh, "raw.e", base, schema=schema)
    lh.catalog.create_branch("feat", "main")
    write(lh, "raw.e", head, schema=schema, branch="feat", mode="overwrite")

    def run() -> Any:
        spy.stored.clear()
        return diff_refs(lh, "main", "feat", engine=spy, keys={"raw.e": ("k", "g")}, sample=50).table("raw.e")

    fast = run()
    assert spy.stored[:1] == ["f"] and "k" not in spy.stored and "j" not in spy.stored
    check_keyed(fast, expected_keyed(base, head, ["k", "g"], TOL))
    assert (fast.duplicate_keys.base, fast.duplicate_keys.head) == (0, 0)
    for side, data in (("base", base), ("head", head)):
        for col in ("f", "s", "n"):
            p, e = getattr(fast.profiles[col], side), expected_profile(data, col)
            assert (p.rows, p.nulls, p.min, p.max) == (e["rows"], e["nulls"], e["min"], e["max"])
            assert (p.mean is None) == (e["mean"] is None) and (p.mean is None or math.isclose(p.mean, e["mean"]))
    monkeypatch.setattr(SpyEngine, "FAST_KEYED_DIFF", False)  # profiles by a scan of each side
    portable = run()
    assert "f" not in spy.stored
    _same(portable.to_dict(), fast.to_dict())  # the approximate distinct counts too: merged states are exact


def test_one_pass_out_of_memory_takes_the_join_path(
    lh: Lakehouse, spy: SpyEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gathered rows live in memory (a list does not spill): when DuckDB runs out of its memory
    limit there (its OutOfMemoryException, raised here on cue), the join path runs instead."""
    import duckdb

    base = orders(200)
    head = mutate(base)
    write(lh, "raw.orders", base, schema=SCHEMA)
    lh.catalog.create_branch("feat", "main")
    write(lh, "raw.orders", head, schema=SCHEMA, branch="feat", mode="overwrite")
    full = diff_refs(lh, "main", "feat", engine=spy, keys={"raw.orders": ("id",)}, sample=4).table("raw.orders")
    real = SpyEngine.materialize

    def short_of_memory(self: SpyEngine, name: str, sql: str) -> str:
        if name.startswith("__branchops_diff_f"):
            raise duckdb.OutOfMemoryException("Out of Memory Error: failed to allocate")
        return real(self, name, sql)

    monkeypatch.setattr(SpyEngine, "materialize", short_of_memory)
    spy.stored.clear()
    t = diff_refs(lh, "main", "feat", engine=spy, keys={"raw.orders": ("id",)}, sample=4).table("raw.orders")
    assert "j" in spy.stored and "f" not in spy.stored
    _same(t.to_dict(), full.to_dict())


def test_a_head_too_big_for_the_memory_limit_takes_the_join_path(
    lh: Lakehouse, spy: SpyEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where head's rows would not fit the engine's memory limit in the one pass's join table
    (which then spills with every column of base), the key join runs instead, with the same result."""
    base = orders(200)
    head = mutate(base)
    write(lh, "raw.orders", base, schema=SCHEMA)
    lh.catalog.create_branch("feat", "main")
    write(lh, "raw.orders", head, schema=SCHEMA, branch="feat", mode="overwrite")
    spy.stored.clear()
    fits = diff_refs(lh, "main", "feat", engine=spy, keys={"raw.orders": ("id",)}, sample=4).table("raw.orders")
    assert "f" in spy.stored and "j" not in spy.stored
    limit = spy.memory_limit_bytes()
    assert limit is not None and limit > 0
    monkeypatch.setattr(rows_mod, "ONE_PASS_BYTES_PER_ROW", limit // len(head) + 1)  # just over the limit
    spy.stored.clear()
    t = diff_refs(lh, "main", "feat", engine=spy, keys={"raw.orders": ("id",)}, sample=4).table("raw.orders")
    assert "j" in spy.stored and "f" not in spy.stored
    _same(t.to_dict(), fits.to_dict())


def test_duckdb_sizes_read_as_bytes() -> None:
    from branchops.engine.duckdb import parse_size

    assert parse_size("953.6 MiB") == int(953.6 * 2**20)
    assert (parse_size("3.0 GiB"), parse_size("1GB"), parse_size("0 bytes")) == (3 * 2**30, 10**9, 0)
    assert parse_size("unlimited") is None and parse_size("12 parsecs") is None


def test_one_pass_sql() -> None:
    from branchops.diff import onepass
    from branchops.diff import queries as q

    src = q.source('"main"."raw"."t"', "duckdb")
    cols = [q.DiffColumn("id"), q.DiffColumn("n", cast=sqlglot.exp.DataType.build("BIGINT"), numeric=True)]
    assert onepass.joined_pass(src, src, ["id"], cols, "duckdb", profile=False).sql("duckdb") == (
        "SELECT __d, COUNT(*) AS __j, COUNT(*) FILTER(WHERE NOT __hb IS NULL AND NOT __hh IS NULL) AS __m, "
        "COUNT(__hb) AS rows, ARRAY_AGG(CASE WHEN __d AND NOT __hb IS NULL THEN {'id': \"id\", 'n': \"n\"} END) "
        "FILTER(WHERE __d AND NOT __hb IS NULL) AS __rows, "
        "ARRAY_AGG(CASE WHEN __d AND NOT __hh IS NULL THEN {'id': __k0} END) FILTER(WHERE __d AND NOT __hh IS NULL) "
        "AS __keys "
        "FROM (SELECT *, b.__hb IS DISTINCT FROM h.__hh AS __d FROM (SELECT \"id\" AS \"id\", "
        'CAST("n" AS BIGINT) AS "n", HASH("id", CAST("n" AS BIGINT)) AS __hb FROM "main"."raw"."t" AS t) AS b '
        'FULL OUTER JOIN (SELECT "id" AS __k0, HASH("id", "n") AS __hh FROM "main"."raw"."t" AS t) AS h '
        'ON b."id" IS NOT DISTINCT FROM h.__k0) AS j GROUP BY __d'
    )
    profiled = onepass.joined_pass(src, src, ["id"], cols, "duckdb", profile=True).sql("duckdb")
    assert ('COUNT(__hb) AS rows, COUNT("id") AS n0, APPROX_COUNT_DISTINCT("id") EXPORT_STATE AS d0, '
            'MIN("id") AS lo0, MAX("id") AS hi0, COUNT("n") AS n1, APPROX_COUNT_DISTINCT("n") EXPORT_STATE AS d1, '
            'MIN("n") AS lo1, MAX("n") AS hi1, AVG(CAST("n" AS DOUBLE)) EXPORT_STATE AS m1, ARRAY_AGG(') in profiled
    assert onepass.differing_keys("f", "duckdb").sql("duckdb") == (
        "SELECT UNNEST(__keys, max_depth => 2), TRUE AS __d FROM f WHERE __d")
    merged = onepass.combined_profiles("f", "c1", cols, ["e"], "duckdb").sql("duckdb")
    assert merged.startswith(
        "SELECT 0 AS __side, e.rows AS rows, e.n0 AS n0, FINALIZE(e.d0) AS d0, e.lo0 AS lo0, e.hi0 AS hi0, ")
    head = ("UNION ALL SELECT 1 AS __side, e.rows + y.rows AS rows, e.n0 + y.n0 AS n0, "
            "FINALIZE(COMBINE(e.d0, y.d0)) AS d0, LEAST(e.lo0, y.lo0) AS lo0, GREATEST(e.hi0, y.hi0) AS hi0, ")
    assert head in merged
