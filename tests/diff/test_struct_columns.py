"""A keyed diff of a table with struct columns: the rows a pass gathers into lists of row structs
are spread back into their columns one level deep, so a struct column stays one column."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan

from branchops.diff import Method, diff_refs
from branchops.diff import rows as rows_mod
from branchops.lakehouse import Lakehouse
from tests.diff.conftest import write

SCHEMA = pa.schema([("id", pa.int64()), ("qty", pa.int64()),
                    ("st", pa.struct([("x", pa.int64()), ("y", pa.string())])), ("l", pa.list_(pa.int32()))])


def rows(lo: int, hi: int) -> list[dict[str, Any]]:
    return [{"id": i, "qty": i % 10, "st": {"x": i, "y": None if i % 2 else "a"}, "l": [i] if i % 3 else None}
            for i in range(lo, hi)]


def change(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every 4th row's struct changed, the last two removed, one added."""
    out = [dict(r, st={"x": -1, "y": "b"}) if i % 4 == 0 else r for i, r in enumerate(rs)]
    return [*out[:-2], dict(out[1], id=-5)]


@pytest.fixture
def changed(lh: Lakehouse) -> Lakehouse:
    for i in range(3):
        write(lh, "raw.t", rows(i * 50, (i + 1) * 50), schema=SCHEMA)
    lh.catalog.create_branch("feat", "main")
    with lh.writing("feat", "change the first file") as w:
        w.iceberg.load_table("raw.t").delete(And(GreaterThanOrEqual("id", 0), LessThan("id", 50)))
        w.iceberg.load_table("raw.t").append(pa.Table.from_pylist(change(rows(0, 50)), schema=SCHEMA))
    return lh


def check(lh: Lakehouse, method: Method, *, profiles: bool) -> None:
    keys = {"raw.t": ("id",)}
    t = diff_refs(lh, "main", "feat", keys=keys, sample=3, profiles=profiles).table("raw.t")
    assert t.method is method
    assert t.rows is not None and (t.rows.added, t.rows.removed, t.rows.changed) == (1, 2, 12)
    assert t.columns == {"qty": 0, "st": 12, "l": 0}


@pytest.mark.parametrize("paired_max", [rows_mod.PAIRED_MAX_ROWS, 0], ids=["paired", "one pass"])
def test_a_pruned_diff_of_struct_columns(changed: Lakehouse, monkeypatch: pytest.MonkeyPatch, paired_max: int) -> None:
    monkeypatch.setattr(rows_mod, "PAIRED_MAX_ROWS", paired_max)
    check(changed, Method.FILE_PRUNING, profiles=False)


def test_a_full_scan_with_profiles_of_struct_columns(lh: Lakehouse) -> None:
    write(lh, "raw.t", rows(0, 50), schema=SCHEMA)
    lh.catalog.create_branch("feat", "main")
    write(lh, "raw.t", change(rows(0, 50)), schema=SCHEMA, branch="feat", mode="overwrite")  # no file shared
    check(lh, Method.FULL_SCAN, profiles=True)


def test_a_repeated_key_with_profiles_of_struct_columns(lh: Lakehouse) -> None:
    write(lh, "raw.t", rows(0, 50), schema=SCHEMA)
    lh.catalog.create_branch("feat", "main")
    head = change(rows(0, 50))
    write(lh, "raw.t", [*head, dict(head[3], qty=99)], schema=SCHEMA, branch="feat", mode="overwrite")
    t = diff_refs(lh, "main", "feat", keys={"raw.t": ("id",)}, sample=3).table("raw.t")
    assert t.method is Method.FULL_SCAN
    assert t.duplicate_keys is not None and (t.duplicate_keys.base, t.duplicate_keys.head) == (0, 1)
    assert set(t.profiles) == {"id", "qty", "st", "l"}
