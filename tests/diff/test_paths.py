"""The read paths agree: data files read directly vs through Iceberg, the keyed one-pass diff vs the
plain multiset difference, delete files, and the duplicate-key check pruned by key bounds."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from branchops.diff import Method, diff_refs
from branchops.diff import queries as q
from branchops.diff.model import DiffOptions
from branchops.diff.rows import diff_rows
from branchops.engine.duckdb import DuckDBEngine
from branchops.lakehouse import Lakehouse
from tests.diff.conftest import expected_keyed, expected_profile, write
from tests.diff.test_compute import SCHEMA, TOL, check_keyed, mutate, orders


class IcebergOnlyEngine(DuckDBEngine):
    """Reads every row through ``iceberg_scan`` (as an engine without ``scan_files`` would)."""

    READS_DATA_FILES: ClassVar[bool] = False


def comparable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in ("files", "notes")}


def test_full_scan_from_file_list_equals_iceberg_scan(lh: Lakehouse) -> None:
    base = orders(500)
    base += [{"id": None, "customer": 1, "amount": 1.0, "status": "x", "qty": 1}] * 2  # NULL key, twice
    head = mutate(base[:500])
    head.append(dict(head[0]))  # a duplicate key (an identical second row)
    for part in (base[:250], base[250:]):
        write(lh, "raw.orders", part, schema=SCHEMA)
    lh.catalog.create_branch("feat", "main")
    write(lh, "raw.orders", head, schema=SCHEMA, branch="feat", mode="overwrite")
    fast = diff_refs(lh, "main", "feat", keys={"raw.orders": ("id",)}, sample=4).table("raw.orders")
    with IcebergOnlyEngine(lh.catalog) as engine:
        slow = diff_refs(lh, "main", "feat", engine=engine, keys={"raw.orders": ("id",)}, sample=4).table("raw.orders")
        assert engine._iceberg_loaded
    assert fast.method is slow.method is Method.FULL_SCAN
    fd, sd = comparable(fast.to_dict()), comparable(slow.to_dict())
    for col, sides in fd["profiles"].items():  # a float mean depends on the (threaded) summation order
        for side, prof in sides.items():
            other = sd["profiles"][col][side]
            mean, other_mean = prof.pop("mean"), other.pop("mean")
            assert mean == other_mean or mean == pytest.approx(other_mean, rel=1e-12)
    assert fd == sd
    assert fast.duplicate_keys is not None and (fast.duplicate_keys.base, fast.duplicate_keys.head) == (1, 1)
    assert fast.rows.base == len(base) and fast.rows.head == len(head)
    exp = expected_keyed([r for r in base if r["id"] is not None], head[:-1], ["id"], TOL)
    assert fast.rows.changed == exp["changed"] and fast.columns == exp["columns"]
    assert fast.rows.removed == exp["removed"] + 2  # the two NULL-key rows
    assert fast.rows.added == exp["added"] + 1  # the second row of the duplicate key


def test_keyed_one_pass_equals_plain_multiset_difference(lh: Lakehouse) -> None:
    """``key_groups`` + rows of the differing keys == the hash residue over every row."""
    base = [{"k": i % 40, "v": i % 3, "f": float(i)} for i in range(120)] + [{"k": None, "v": 1, "f": None}] * 2
    head = [dict(r, v=r["v"] + (1 if r["k"] in (3, 5) else 0)) for r in base[:110]]
    head += [{"k": 3, "v": 0, "f": 0.0}, {"k": None, "v": 1, "f": None}, {"k": 99, "v": 1, "f": 1e-12}]
    write(lh, "raw.d", base)
    lh.catalog.create_branch("feat", "main")
    write(lh, "raw.d", head, branch="feat", mode="overwrite")
    cols = [q.DiffColumn("k", numeric=True), q.DiffColumn("v", numeric=True),
            q.DiffColumn("f", is_float=True, numeric=True)]
    opts = DiffOptions(sample=50)
    with DuckDBEngine(lh.catalog) as engine:
        src = [q.source(engine.relation(ref, "raw.d"), "duckdb") for ref in ("main", "feat")]
        new = diff_rows(engine, src[0], src[1], cols, ("k",), (len(base), len(head)), opts)
        hashes = engine.materialize("h_old", q.residue_hashes(src[0], src[1], cols, "duckdb").sql("duckdb"))
        residue = engine.materialize("r_old", q.residue_rows(src[0], src[1], hashes, cols, "duckdb").sql("duckdb"))
        old = engine.query(q.keyed_counts(residue, ("k",), cols[1:], opts.tolerance, "duckdb").sql("duckdb"))[0]
        dups = [engine.query(q.duplicate_keys(s, ("k",)).sql("duckdb"))[0][0] for s in src]
    assert (new.rows.added, new.rows.removed, new.rows.changed) == old[:3]
    assert [new.columns["v"], new.columns["f"]] == list(old[3:])
    assert new.duplicates == tuple(dups) and dups[0] > 0 and dups[1] > 0


def _position_deletes(lh: Lakehouse, branch: str, table: str, data_file: str, positions: list[int]) -> None:
    """Commit a position-delete file (pyiceberg only writes copy-on-write deletes)."""
    from pyiceberg.manifest import DataFile, DataFileContent, FileFormat, ManifestContent, ManifestWriterV2
    from pyiceberg.typedef import Record

    class DeleteManifestWriter(ManifestWriterV2):
        def content(self) -> ManifestContent:
            return ManifestContent.DELETES

        @property
        def _meta(self) -> dict[str, str]:
            return {**super()._meta, "content": "deletes"}

    path = Path(data_file.removeprefix("file://")).with_name("deletes-0.parquet")
    fields = [pa.field("file_path", pa.string(), nullable=False, metadata={"PARQUET:field_id": "2147483546"}),
              pa.field("pos", pa.int64(), nullable=False, metadata={"PARQUET:field_id": "2147483545"})]
    pq.write_table(pa.table([[data_file] * len(positions), positions], schema=pa.schema(fields)), path)
    df = DataFile.from_args(content=DataFileContent.POSITION_DELETES, file_path=str(path),
                            file_format=FileFormat.PARQUET, partition=Record(), record_count=len(positions),
                            file_size_in_bytes=path.stat().st_size)
    with lh.writing(branch, "position deletes") as w:
        tbl = w.iceberg.load_table(table)
        with tbl.transaction() as tx, tx.update_snapshot().fast_append() as append:
            def writer(spec: Any) -> Any:
                return DeleteManifestWriter(spec, append.schema(), append.new_manifest_output(),
                                            append._snapshot_id, append._compression)

            append.new_manifest_writer = writer  # type: ignore[method-assign]
            append.append_data_file(df)


def test_delete_files_take_the_iceberg_path(lh: Lakehouse) -> None:
    base = orders(200)
    write(lh, "raw.orders", base, schema=SCHEMA)
    lh.catalog.create_branch("feat", "main")
    files = lh.catalog.load_table("feat", "raw.orders").inspect.files().to_pylist()
    assert len(files) == 1
    _position_deletes(lh, "feat", "raw.orders", files[0]["file_path"], [0, 10, 11])
    feat = lh.catalog.load_table("feat", "raw.orders")
    assert int(feat.current_snapshot().summary["total-delete-files"]) == 1  # type: ignore[union-attr]
    head = [r for i, r in enumerate(base) if i not in (0, 10, 11)]
    t = diff_refs(lh, "main", "feat", keys={"raw.orders": ("id",)}).table("raw.orders")
    assert t.method is Method.FULL_SCAN and t.files is None  # shared file, but deletes: read through Iceberg
    check_keyed(t, expected_keyed(base, head, ["id"], TOL))
    assert t.rows.removed == 3 and t.profile_source == "scan"
    assert t.profiles["amount"].head.rows == 197
    e = expected_profile(head, "amount")
    assert (t.profiles["amount"].head.min, t.profiles["amount"].head.max) == (e["min"], e["max"])
    assert t.duplicate_keys is not None and (t.duplicate_keys.base, t.duplicate_keys.head) == (0, 0)


@pytest.mark.parametrize("key_type", ["int", "string"])
def test_pruned_duplicate_check_reads_only_files_that_may_hold_the_keys(lh: Lakehouse, key_type: str) -> None:
    def k(i: int) -> Any:
        return i if key_type == "int" else f"{i:05d}"

    chunks = [[{"k": k(i), "v": i} for i in range(c * 1000, c * 1000 + 100)] for c in range(4)]
    chunks[3].append({"k": None, "v": -1})
    for rows in chunks:
        write(lh, "raw.k", rows)
    lh.catalog.create_branch("feat", "main")
    # head: a key from chunk 1 again, and a second NULL key: 2 duplicate keys, found across files
    write(lh, "raw.k", [{"k": k(1050), "v": 0}, {"k": None, "v": -2}, {"k": k(1500), "v": 1}], branch="feat")
    feat = lh.catalog.load_table("feat", "raw.k")
    from branchops.diff.snapshots import TableSnapshot, files_for_keys

    side = TableSnapshot.load(feat)
    main_files = set(TableSnapshot.load(lh.catalog.load_table("main", "raw.k")).files())
    changed = [f for p, f in side.files().items() if p not in main_files]
    picked = files_for_keys(side.files(), changed, side.schema, ["k"])
    assert len(picked) == 3  # the new file, chunk 1 (bounds) and chunk 3 (NULLs); not chunks 0 and 2
    t = diff_refs(lh, "main", "feat", keys={"raw.k": ("k",)}).table("raw.k")
    assert t.method is Method.FILE_PRUNING and t.duplicate_keys is not None
    assert (t.duplicate_keys.base, t.duplicate_keys.head, t.duplicate_keys.scope) == (0, 2, "changed_keys")
    assert (t.rows.added, t.rows.removed, t.rows.changed) == (3, 0, 0)
