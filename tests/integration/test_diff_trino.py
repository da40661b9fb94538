"""The diff in Trino equals the diff in DuckDB on the same data, for every method.

The same writes (pyiceberg through branchops) build two lakehouses: the embedded one (SQLite,
local files, diffed in DuckDB) and the production one (Nessie, S3, diffed in Trino). Each table
of the history takes one diff path: ``same_snapshot`` (only a table property changed),
``file_pruning`` (one of four data files rewritten: keyed and keyless), ``full_scan`` (every file
rewritten: keyed, keyless, and keyed with a repeated key, which Trino diffs through its scratch
tables; keyed on unique keys and keyless, Trino stores none). Both engines must report the
same method, counts, per-column changes, samples, duplicate keys and profiles (approximate
distinct counts aside, means to 9 digits; keyless samples as sets, as both engines list them in
the order of their own row hash: the sample cap is above every count here, so both list every
differing row).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from branchops.config import Settings
from branchops.diff.run import diff_refs
from branchops.engine.trino import TrinoEngine
from branchops.lakehouse import Lakehouse

pytestmark = pytest.mark.integration

KEYS = {"d.pruned": ("id",), "d.full": ("id",), "d.dups": ("id",), "d.same": ("id",)}
METHODS = {"d.same": "same_snapshot", "d.pruned": "file_pruning", "d.pruned_keyless": "file_pruning",
           "d.full": "full_scan", "d.full_keyless": "full_scan", "d.dups": "full_scan"}


def rows(ids: range, *, bump: int = 0, every: int = 0) -> pa.Table:
    """``id, name, amount, qty``; with ``every``, rows whose id is a multiple of it get ``bump``."""
    changed = [bool(every) and i % every == 0 for i in ids]
    return pa.table({
        "id": pa.array(list(ids), pa.int64()),
        "name": pa.array([None if i % 7 == 3 else f"n{i}" for i in ids], pa.string()),
        "amount": pa.array([i * 1.5 + (bump if c else 0) for i, c in zip(ids, changed, strict=True)], pa.float64()),
        "qty": pa.array([(i % 5) + (bump if c else 0) for i, c in zip(ids, changed, strict=True)], pa.int32()),
    })


def build(lh: Lakehouse) -> None:
    """main: every table in four files (four appends); feat: one change per table."""
    for table in METHODS:
        for start in range(0, 40, 10):
            lh.ingest(table, rows(range(start, start + 10)))
    lh.ingest("d.dups", rows(range(5, 6)))  # key 5 twice on both sides
    lh.catalog.create_branch("feat", "main")
    with lh.writing("feat", "change every table") as w:
        ice = w.iceberg
        ice.load_table("d.same").transaction().set_properties({"owner": "someone"}).commit_transaction()
        for table in ("d.pruned", "d.pruned_keyless"):
            t = ice.load_table(table)
            t.delete("id < 10")  # exactly the first file: dropped, not rewritten
            t = ice.load_table(table)
            t.append(rows(range(1, 10), bump=3, every=4))  # 0 removed, 4 and 8 changed
        for table in ("d.full", "d.full_keyless", "d.dups"):
            t = ice.load_table(table)
            whole = pa.concat_tables([rows(range(2, 45), bump=2, every=6)] + (
                [rows(range(5, 6), bump=1, every=1)] if table == "d.dups" else []))
            t.overwrite(whole)


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for t in result["tables"]:
        t = dict(t)
        for col in (t.get("profiles") or {}).values():
            for side in ("base", "head"):
                if col.get(side):
                    col[side] = {**col[side], "distinct": None,
                                 "mean": None if col[side]["mean"] is None else round(float(col[side]["mean"]), 9)}
        t.pop("notes", None)
        if t.get("key") is None and t.get("samples"):  # keyless samples come in row-hash order: engine-specific
            t["samples"] = {kind: sorted(rows, key=repr) for kind, rows in t["samples"].items()}
        out[t["table"]] = t
    return out


@pytest.fixture
def twins(trino_settings: Settings, tmp_path: Path) -> Iterator[tuple[Lakehouse, Lakehouse]]:
    embedded = Settings(root=tmp_path / "embedded", catalog_uri=f"sqlite:///{tmp_path / 'catalog.db'}")
    (tmp_path / "embedded").mkdir()
    with Lakehouse(embedded) as local, Lakehouse(trino_settings) as prod:
        build(local)
        build(prod)
        yield local, prod


def test_trino_diff_equals_duckdb_diff_for_every_method(twins: tuple[Lakehouse, Lakehouse]) -> None:
    local, prod = twins
    want = comparable(diff_refs(local, "main", "feat", keys=KEYS, include_unchanged=True, sample=50).to_dict())
    with TrinoEngine(prod.catalog, prod.settings) as engine:
        got = comparable(diff_refs(prod, "main", "feat", engine=engine, keys=KEYS,
                                         include_unchanged=True, sample=50).to_dict())
    assert {t: d["method"] for t, d in got.items()} == METHODS
    assert {t: d["method"] for t, d in want.items()} == METHODS
    assert {t: d for t, d in got.items() if d != want[t]} == {}, want
    # independently known answers for the keyed tables
    pruned = got["d.pruned"]["rows"]
    assert (pruned["added"], pruned["removed"], pruned["changed"]) == (0, 1, 2)  # 10, 11 equal; 4, 8 changed
    assert got["d.dups"]["duplicate_keys"] == {"base": 1, "head": 1, "scope": "table"}
    full = got["d.full"]["rows"]
    assert (full["added"], full["removed"], full["changed"]) == (5, 2, 6)  # 40..44; 0, 1; 6, 12, .., 36
    # keyless: the multiset difference of rows, counted by hand
    pk, fk = got["d.pruned_keyless"]["rows"], got["d.full_keyless"]["rows"]
    assert (pk["added"], pk["removed"]) == (2, 3)  # 0 gone; 4 and 8 changed (one copy each side)
    assert (fk["added"], fk["removed"]) == (11, 8)  # 40..44 and 6, 12, .., 36 changed; 0, 1 gone


class _Counting(TrinoEngine):
    """Counts the scratch tables a diff stores (Trino's memory connector: a statement each)."""

    stored: list[str]

    def materialize(self, name: str, sql: str) -> str:
        self.stored = [*getattr(self, "stored", []), name]
        return super().materialize(name, sql)


def test_trino_keyless_and_unique_key_diffs_store_no_scratch_table(twins: tuple[Lakehouse, Lakehouse]) -> None:
    local, prod = twins
    pick = ["d.pruned", "d.pruned_keyless", "d.full", "d.full_keyless"]
    want = comparable(diff_refs(local, "main", "feat", keys=KEYS, tables=pick, sample=50).to_dict())
    with _Counting(prod.catalog, prod.settings) as engine:
        got = comparable(diff_refs(prod, "main", "feat", engine=engine, keys=KEYS, tables=pick, sample=50).to_dict())
        assert getattr(engine, "stored", []) == []
        assert engine._scratch_schema is None
    assert sorted(got) == sorted(pick)
    assert {t: d["method"] for t, d in got.items()} == {t: METHODS[t] for t in pick}
    assert got == want
