"""Every figure of a diff against an answer computed independently, on data with known changes."""

from __future__ import annotations

import json
import random
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.types import LongType, StringType

from branchops.diff import DiffResult, Method, TableStatus, diff_refs
from branchops.errors import RefNotFound, UsageError
from branchops.lakehouse import Lakehouse
from tests.diff.conftest import expected_keyed, expected_keyless, expected_profile, write

TOL = 1e-9
SCHEMA = pa.schema([("id", pa.int64()), ("customer", pa.int32()), ("amount", pa.float64()),
                    ("status", pa.string()), ("qty", pa.int32())])


def orders(n: int, seed: int = 1) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    return [{"id": i, "customer": rnd.randrange(50), "amount": round(rnd.uniform(1, 500), 2),
             "status": rnd.choice(["placed", "shipped", None]), "qty": rnd.randrange(1, 9)} for i in range(n)]


def mutate(rows: list[dict[str, Any]], seed: int = 2) -> list[dict[str, Any]]:
    """Known changes: removed ids, new ids, amounts moved above and below the tolerance, NULLs."""
    rnd = random.Random(seed)
    out = []
    for r in rows:
        r = dict(r)
        roll = rnd.random()
        if roll < 0.05:
            continue  # removed
        if roll < 0.10:
            r["amount"] += 1e-12  # noise below the tolerance: not a change
        elif roll < 0.15:
            r["amount"] += 0.5
        elif roll < 0.20:
            r["status"] = None if r["status"] is not None else "returned"  # NULL <-> value
        elif roll < 0.22:
            r["qty"] += 1
            r["amount"] = r["amount"] * 2 + 1
        out.append(r)
    out += [{"id": 10_000 + i, "customer": i, "amount": 1.0, "status": None, "qty": 1} for i in range(7)]
    return out


def one(result: DiffResult, table: str) -> Any:
    return result.table(table)


def check_keyed(t: Any, exp: dict[str, Any]) -> None:
    assert t.rows.base == exp["base"] and t.rows.head == exp["head"]
    assert (t.rows.added, t.rows.removed, t.rows.changed) == (exp["added"], exp["removed"], exp["changed"])
    assert t.columns == exp["columns"]


def test_keyed_full_scan_matches_python(lh: Lakehouse) -> None:
    base = orders(400)
    head = mutate(base)
    write(lh, "raw.orders", base, schema=SCHEMA)
    lh.catalog.create_branch("feat", "main")
    write(lh, "raw.orders", head, schema=SCHEMA, branch="feat", mode="overwrite")
    r = diff_refs(lh, "main", "feat", keys={"raw.orders": ("id",)}, sample=3)
    t = one(r, "raw.orders")
    assert t.status is TableStatus.MODIFIED and t.method is Method.FULL_SCAN and t.key == ("id",)
    exp = expected_keyed(base, head, ["id"], TOL)
    assert exp["changed"] > 0 and exp["columns"]["amount"] > 0 and exp["columns"]["status"] > 0
    check_keyed(t, exp)
    # noise below the tolerance is a change once the tolerance is tighter
    tight = one(diff_refs(lh, "main", "feat", keys={"raw.orders": ("id",)}, tolerance=0.0), "raw.orders")
    check_keyed(tight, expected_keyed(base, head, ["id"], 0.0))
    assert tight.rows.changed > t.rows.changed
    # samples: capped, ordered by key, base and head side by side, only changed columns
    by_id = {r["id"]: r for r in base}, {r["id"]: r for r in head}
    assert len(t.samples.changed) == 3 and len(t.samples.added) == 3 and len(t.samples.removed) == 3
    for c in t.samples.changed:
        k = c.key["id"]
        assert c.base == {col: by_id[0][k][col] for col in c.base}
        assert c.head == {col: by_id[1][k][col] for col in c.head}
    assert [a["id"] for a in t.samples.added] == [10_000, 10_001, 10_002]
    assert [x["id"] for x in t.samples.removed] == sorted(by_id[0].keys() - by_id[1].keys())[:3]
    # profiles from a scan: exact nulls, min, max, mean; approximate distinct
    assert t.profile_source == "scan"
    for col in ("customer", "amount", "status"):
        for side, rows in (("base", base), ("head", head)):
            p, e = getattr(t.profiles[col], side), expected_profile(rows, col)
            assert (p.rows, p.nulls, p.min, p.max) == (e["rows"], e["nulls"], e["min"], e["max"])
            assert p.mean == pytest.approx(e["mean"]) if e["mean"] is not None else p.mean is None
            assert abs(p.distinct - e["distinct"]) <= max(2, 0.1 * e["distinct"])
    assert t.duplicate_keys is not None and (t.duplicate_keys.base, t.duplicate_keys.head) == (0, 0)
    json.dumps(r.to_dict())  # JSON-safe


def test_composite_key_and_duplicates(lh: Lakehouse) -> None:
    base = [{"a": i % 5, "b": str(i // 5), "v": i} for i in range(50)]
    head = [dict(r, v=r["v"] + (1 if r["a"] == 2 else 0)) for r in base if not (r["a"] == 0 and r["b"] == "3")]
    head += [{"a": 9, "b": "x", "v": 1}]
    write(lh, "mart.x", base)
    lh.catalog.create_branch("feat", "main")
    write(lh, "mart.x", head, branch="feat", mode="overwrite")
    t = one(diff_refs(lh, "main", "feat", keys={"mart.x": ("a", "b")}), "mart.x")
    check_keyed(t, expected_keyed(base, head, ["a", "b"], TOL))
    assert {tuple(c.key.values()) for c in t.samples.changed} <= {(2, str(i)) for i in range(10)}
    # a duplicate key: one key value seen twice on head, reported, and its extra row counted as added
    dup = [*head, {"a": 1, "b": "1", "v": 99}]
    write(lh, "mart.x", dup, branch="feat", mode="overwrite")
    t = one(diff_refs(lh, "main", "feat", keys={"mart.x": ("a", "b")}), "mart.x")
    assert t.duplicate_keys is not None and (t.duplicate_keys.base, t.duplicate_keys.head) == (0, 1)
    assert t.rows.added == expected_keyed(base, head, ["a", "b"], TOL)["added"] + 1


def test_keyless_multiset_with_duplicates(lh: Lakehouse) -> None:
    base = [{"k": "a", "v": 1}] * 3 + [{"k": "b", "v": 2}] * 2 + [{"k": None, "v": None}]
    head = [{"k": "a", "v": 1}] * 2 + [{"k": "b", "v": 2}] * 3 + [{"k": None, "v": None}, {"k": "c", "v": None}]
    write(lh, "raw.events", base)
    lh.catalog.create_branch("feat", "main")
    write(lh, "raw.events", head, branch="feat", mode="overwrite")
    t = one(diff_refs(lh, "main", "feat"), "raw.events")
    exp = expected_keyless(base, head)
    assert exp == {"added": 2, "removed": 1}
    assert (t.rows.added, t.rows.removed, t.rows.changed) == (2, 1, None)
    assert t.key is None and t.columns == {}
    assert sorted(t.samples.added, key=str) == sorted([{"k": "b", "v": 2}, {"k": "c", "v": None}], key=str)
    assert t.samples.removed == ({"k": "a", "v": 1},)


def test_schema_changes_widening_added_removed_columns(lh: Lakehouse) -> None:
    schema = pa.schema([("id", pa.int64()), ("n", pa.int32()), ("old", pa.string()), ("f", pa.float32())])
    base = [{"id": i, "n": i * 10, "old": f"o{i}", "f": 0.5} for i in range(20)]
    write(lh, "mart.w", base, schema=schema)
    lh.catalog.create_branch("feat", "main")
    head = [{"id": i, "n": i * 10 + (1 if i == 4 else 0), "f": 0.5, "new": "x"} for i in range(20)]

    def evolve(upd: Any) -> None:
        upd.update_column("n", LongType())
        upd.delete_column("old")
        upd.add_column("new", StringType())

    write(lh, "mart.w", head, branch="feat", mode="overwrite", evolve=evolve)
    t = one(diff_refs(lh, "main", "feat", keys={"mart.w": ("id",)}), "mart.w")
    assert [(c.name, c.type) for c in t.schema.added] == [("new", "string")]
    assert [(c.name, c.type) for c in t.schema.removed] == [("old", "string")]
    assert [(c.name, c.base, c.head) for c in t.schema.type_changed] == [("n", "int", "long")]
    # widened values compare equal; only the row really changed counts; only shared columns compared
    assert (t.rows.added, t.rows.removed, t.rows.changed) == (0, 0, 1)
    assert t.columns == {"n": 1, "f": 0}
    assert t.samples.changed[0].base == {"n": 40} and t.samples.changed[0].head == {"n": 41}


def test_added_removed_and_empty_tables(lh: Lakehouse) -> None:
    write(lh, "raw.gone", [{"x": 1}, {"x": 2}])
    write(lh, "raw.empty", pa.schema([("x", pa.int64())]).empty_table())
    write(lh, "raw.keep", [{"x": 1}])
    lh.catalog.create_branch("feat", "main")
    with lh.writing("feat", "drop a table") as w:
        w.iceberg.drop_table("raw.gone")
    write(lh, "raw.new", [{"x": i} for i in range(3)], branch="feat")
    write(lh, "raw.empty", [{"x": 5}, {"x": None}], branch="feat")
    r = diff_refs(lh, "main", "feat")
    by = {t.table: t for t in r.tables}
    assert set(by) == {"raw.gone", "raw.new", "raw.empty"}  # raw.keep is unchanged: not listed
    assert by["raw.gone"].status is TableStatus.REMOVED and by["raw.gone"].method is Method.CATALOG
    assert (by["raw.gone"].rows.base, by["raw.gone"].rows.removed) == (2, 2)
    assert by["raw.new"].status is TableStatus.ADDED and by["raw.new"].rows.added == 3
    assert [c.name for c in by["raw.new"].schema.added] == ["x"]
    e = by["raw.empty"]
    assert (e.rows.base, e.rows.head, e.rows.added, e.rows.removed) == (0, 2, 2, 0)
    assert e.profiles["x"].base.rows == 0 and e.profiles["x"].head.nulls == 1
    everything = diff_refs(lh, "main", "feat", include_unchanged=True)
    keep = everything.table("raw.keep")
    assert keep.status is TableStatus.UNCHANGED and keep.method is Method.SAME_METADATA
    assert not diff_refs(lh, "main", "main").tables


def test_same_snapshot_is_unchanged_without_reading(lh: Lakehouse) -> None:
    write(lh, "raw.t", [{"x": 1}])
    lh.catalog.create_branch("feat", "main")
    with lh.writing("feat", "set a property") as w:
        tbl = w.iceberg.load_table("raw.t")
        with tbl.transaction() as tx:
            tx.set_properties({"owner": "me"})
    assert lh.catalog.tables("main")["raw.t"] != lh.catalog.tables("feat")["raw.t"]
    assert not diff_refs(lh, "main", "feat").tables
    t = diff_refs(lh, "main", "feat", include_unchanged=True).table("raw.t")
    assert t.status is TableStatus.UNCHANGED and t.method is Method.SAME_SNAPSHOT


def test_file_pruning_append_only_vs_rewrite(lh: Lakehouse) -> None:
    base = orders(300)
    for chunk in range(3):  # three data files
        write(lh, "raw.orders", base[chunk * 100:(chunk + 1) * 100], schema=SCHEMA)
    lh.catalog.create_branch("feat", "main")
    extra = [{"id": 5, "customer": 1, "amount": 2.0, "status": "dup", "qty": 1}] + [
        {"id": 1000 + i, "customer": i, "amount": float(i), "status": None, "qty": 2} for i in range(10)]
    write(lh, "raw.orders", extra, schema=SCHEMA, branch="feat")
    t = one(diff_refs(lh, "main", "feat", keys={"raw.orders": ("id",)}), "raw.orders")
    assert t.method is Method.FILE_PRUNING
    assert t.files is not None and (t.files.shared, t.files.read_base, t.files.read_head) == (3, 0, 1)
    assert (t.rows.base, t.rows.head, t.rows.added, t.rows.removed, t.rows.changed) == (300, 311, 11, 0, 0)
    assert t.duplicate_keys is not None and t.duplicate_keys.head == 1 and t.duplicate_keys.scope == "changed_keys"
    # profiles from manifests: nulls, min and max exact, no scan
    head = base + extra
    assert t.profile_source == "manifests"
    for col in ("id", "amount", "status"):
        p, e = t.profiles[col].head, expected_profile(head, col)
        assert (p.rows, p.nulls, p.min, p.max) == (e["rows"], e["nulls"], e["min"], e["max"])
    # a copy-on-write delete rewrites one file: still pruned, and equal to the Python answer
    from pyiceberg.expressions import EqualTo

    with lh.writing("feat", "delete") as w:
        w.iceberg.load_table("raw.orders").delete(EqualTo("id", 150))
    t = one(diff_refs(lh, "main", "feat", keys={"raw.orders": ("id",)}), "raw.orders")
    assert t.method is Method.FILE_PRUNING and t.files is not None and t.files.read_base == 1
    assert (t.rows.head, t.rows.added, t.rows.removed, t.rows.changed) == (310, 11, 1, 0)
    # a rewrite of everything shares no file: a full scan, same figures as Python
    head = mutate(base)
    write(lh, "raw.orders", head, schema=SCHEMA, branch="feat", mode="overwrite")
    t = one(diff_refs(lh, "main", "feat", keys={"raw.orders": ("id",)}), "raw.orders")
    assert t.method is Method.FULL_SCAN
    check_keyed(t, expected_keyed(base, head, ["id"], TOL))


def test_pruned_and_full_agree_on_keyless(lh: Lakehouse) -> None:
    rows = [{"k": i % 7, "v": "x"} for i in range(70)]
    write(lh, "raw.e", rows[:35])
    write(lh, "raw.e", rows[35:])
    lh.catalog.create_branch("feat", "main")
    more = [{"k": 1, "v": "x"}, {"k": 99, "v": None}]
    write(lh, "raw.e", more, branch="feat")
    t = one(diff_refs(lh, "main", "feat"), "raw.e")
    assert t.method is Method.FILE_PRUNING
    exp = expected_keyless(rows, rows + more)
    assert (t.rows.added, t.rows.removed) == (exp["added"], exp["removed"]) == (2, 0)


def test_keys_unknown_ref_and_patterns(lh: Lakehouse) -> None:
    write(lh, "raw.a", [{"id": 1}])
    write(lh, "mart.b", [{"id": 1}])
    lh.catalog.create_branch("feat", "main")
    write(lh, "raw.a", [{"id": 2}], branch="feat")
    write(lh, "mart.b", [{"id": 2}], branch="feat")
    assert [t.table for t in diff_refs(lh, "main", "feat", tables=["mart.*"]).tables] == ["mart.b"]
    with pytest.raises(UsageError, match="no column nope"):
        diff_refs(lh, "main", "feat", keys={"raw.a": ("nope",)})
    with pytest.raises(UsageError, match="neither"):
        diff_refs(lh, "main", "feat", keys={"raw.zzz": ("id",)})
    with pytest.raises(RefNotFound):
        diff_refs(lh, "main", "nope")
