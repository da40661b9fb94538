"""Figures the one-pass keyed diff takes from the manifests instead of aggregating them: equal to
what a scan gives, and never taken where the manifests are not exact (truncated string bounds,
NaN beside float bounds, delete files, cast values)."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pytest
from sqlglot import exp

from branchops.diff import Method, diff_refs
from branchops.diff import onepass as op
from branchops.diff import queries as q
from branchops.diff.snapshots import ExactStats, TableSnapshot, exact_stats
from branchops.diff.table import TableDiffer
from branchops.lakehouse import Lakehouse
from tests.diff.conftest import expected_profile, write
from tests.diff.test_compute import SCHEMA, orders
from tests.diff.test_paths import _position_deletes

WIDE = pa.schema([("id", pa.int64()), ("n", pa.int32()), ("none", pa.int32()), ("s", pa.string()),
                  ("f", pa.float64())])
LONG = "a long string, longer than sixteen characters "  # Iceberg truncates string bounds to 16


def _rows(lo: int, hi: int, bump: int = 0) -> list[dict[str, Any]]:
    return [{"id": i, "n": None if i % 7 == 0 else (i * 13) % 101 + bump * (i % 10 == 0), "none": None,
             "s": f"{LONG}{i % 37:03d}" + ("~" * bump if i % 9 == 0 else ""),
             "f": math.nan if i % 50 == 3 else i / 3} for i in range(lo, hi)]


@pytest.fixture
def known_seen(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, frozenset[str]]]:
    """The figures each one pass left out to the manifests."""
    seen: list[dict[str, frozenset[str]]] = []
    real = op.known_figures

    def spy(*a: Any) -> dict[str, frozenset[str]]:
        seen.append(real(*a))
        return seen[-1]

    monkeypatch.setattr(op, "known_figures", spy)
    return seen


def _profiles(lh: Lakehouse, table: str, key: str) -> Any:
    t = diff_refs(lh, "main", "feat", keys={table: (key,)}, sample=3).table(table)
    assert t.method is Method.FULL_SCAN and t.profile_source == "scan"
    return t.to_dict()["profiles"]


def _assert_same(got: dict[str, Any], scanned: dict[str, Any]) -> None:
    assert got.keys() == scanned.keys()
    for col, sides in got.items():
        for side, p in sides.items():
            other = scanned[col][side]
            for k, v in p.items():
                if k == "mean" and isinstance(v, float):  # threaded summation: the last bits may differ
                    assert math.isclose(v, other[k]), (col, side)
                else:
                    assert v == other[k], (col, side, k)


def test_manifest_figures_equal_the_scanned_ones(
    lh: Lakehouse, monkeypatch: pytest.MonkeyPatch, known_seen: list[dict[str, frozenset[str]]]
) -> None:
    for lo, hi in ((0, 150), (150, 300)):  # two data files a side
        write(lh, "raw.w", _rows(lo, hi), schema=WIDE)
    lh.catalog.create_branch("feat", "main")
    write(lh, "raw.w", _rows(0, 140, bump=1000), schema=WIDE, branch="feat", mode="overwrite")
    write(lh, "raw.w", _rows(150, 320, bump=1000), schema=WIDE, branch="feat")

    side = TableSnapshot.load(lh.catalog.load_table("feat", "raw.w"))
    stats = exact_stats(side.files(), side.schema, ["id", "n", "none", "s", "f"])
    head = _rows(0, 140, bump=1000) + _rows(150, 320, bump=1000)
    e_n = expected_profile(head, "n")
    assert stats["n"] == ExactStats(len(head) - e_n["nulls"], True, e_n["min"], e_n["max"])
    assert stats["none"] == ExactStats(0, True, None, None)  # every value NULL: no bounds, none needed
    assert not stats["s"].bounded and not stats["f"].bounded  # truncated strings; floats beside NaN
    assert stats["f"].values == len(head)  # NaN is a value, as DuckDB counts it

    got = _profiles(lh, "raw.w", "id")
    both = {"n": {op.COUNTED, op.BOUNDED}, "none": {op.COUNTED, op.BOUNDED}, "id": {op.COUNTED, op.BOUNDED},
            "s": {op.COUNTED}, "f": {op.COUNTED}}
    assert known_seen == [both]
    for col in ("id", "n", "none", "s"):  # what plain Python says (the float column holds NaN)
        e = expected_profile(head, col)
        assert (got[col]["head"]["rows"], got[col]["head"]["nulls"]) == (e["rows"], e["nulls"])
        assert (got[col]["head"]["min"], got[col]["head"]["max"]) == (e["min"], e["max"])
    assert got["s"]["head"]["max"].endswith("~" * 1000)  # beyond the truncated bound

    known_seen.clear()
    monkeypatch.setattr(TableDiffer, "_exact_stats", lambda *a: None)  # every figure from the scan
    scanned = _profiles(lh, "raw.w", "id")
    assert known_seen == []
    _assert_same(got, scanned)


def test_delete_files_fall_back_to_the_scan(lh: Lakehouse, known_seen: list[dict[str, frozenset[str]]]) -> None:
    base = orders(200)
    write(lh, "raw.orders", base, schema=SCHEMA)
    lh.catalog.create_branch("feat", "main")
    write(lh, "raw.orders", [dict(r, qty=r["qty"] + 1) for r in base], schema=SCHEMA, branch="feat",
          mode="overwrite")
    path = lh.catalog.load_table("feat", "raw.orders").inspect.files().to_pylist()[0]["file_path"]
    top = max(range(200), key=lambda i: (base[i]["qty"], i))
    _position_deletes(lh, "feat", "raw.orders", path, [199, top])  # the highest id and a highest qty
    head = [dict(r, qty=r["qty"] + 1) for i, r in enumerate(base) if i not in (199, top)]
    got = _profiles(lh, "raw.orders", "id")
    assert known_seen == []  # read through Iceberg: the manifests' bounds still hold the deleted rows
    for col in ("id", "qty", "customer"):
        e = expected_profile(head, col)
        p = got[col]["head"]
        assert (p["rows"], p["nulls"], p["min"], p["max"]) == (e["rows"], e["nulls"], e["min"], e["max"])


def test_cast_values_are_aggregated() -> None:
    cast = q.DiffColumn("v", cast=exp.DataType.build("BIGINT"), numeric=True)
    plain = q.DiffColumn("w", numeric=True)
    text = q.DiffColumn("s")
    exact = {"v": ExactStats(3, True, 1, 9), "w": ExactStats(3, True, 1, 9), "s": ExactStats(4, False)}
    half = {"w": ExactStats(3, False), "s": ExactStats(4, False)}
    assert op.known_figures([cast, plain, text], (exact, exact)) == {
        "w": {op.COUNTED, op.BOUNDED}, "s": {op.COUNTED}}
    assert op.known_figures([cast, plain, text], (exact, half)) == {"w": {op.COUNTED}, "s": {op.COUNTED}}
    sql = op.joined_pass(exp.to_table("b"), exp.to_table("h"), ["w"], [plain, text], "duckdb", profile=True,
                         known={"w": frozenset({op.COUNTED, op.BOUNDED})}).sql("duckdb")
    assert 'COUNT("w")' not in sql and 'MIN("w")' not in sql and 'COUNT("s")' in sql and 'MAX("s")' in sql
    assert 'APPROX_COUNT_DISTINCT("w")' in sql and 'AVG(CAST("w" AS DOUBLE))' in sql
