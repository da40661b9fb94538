"""``metadata_file.load_side`` reads what pyiceberg's ``Table`` gives a diff: the current snapshot,
its summary and files, the current schema and the history's schemas; format version 1 and
compressed metadata files go through pyiceberg itself."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.types import LongType

from branchops.diff.metadata_file import load_side
from branchops.diff.snapshots import TableSnapshot
from branchops.errors import RefNotFound, TableNotFound
from branchops.lakehouse import Lakehouse
from tests.diff.conftest import write
from tests.diff.test_paths import _position_deletes

ROWS = [{"id": i, "v": i * 2, "s": f"r{i}"} for i in range(10)]


def same_as_pyiceberg(lh: Lakehouse, ref: str, table: str) -> TableSnapshot:
    light = load_side(lh.catalog, ref, table)
    full = TableSnapshot.load(lh.catalog.load_table(ref, table))
    for attr in ("snapshot_id", "schema", "schemas", "manifest_list", "summary"):
        assert getattr(light, attr) == getattr(full, attr), attr
    assert light.files() == full.files()
    assert (light.records(), light.has_deletes(), light.empty) == (full.records(), full.has_deletes(), full.empty)
    assert [str(f.field_type) for f in light.schema.fields] == [str(f.field_type) for f in full.schema.fields]
    return light


def test_history_schemas_snapshots_and_branches(lh: Lakehouse) -> None:
    write(lh, "raw.t", ROWS[:5])
    write(lh, "raw.t", ROWS[5:])
    lh.catalog.create_branch("feat", "main")

    def evolve(upd: Any) -> None:
        upd.rename_column("s", "label")
        upd.add_column("extra", LongType())

    write(lh, "raw.t", [dict(r, label=r.pop("s"), extra=1) for r in ROWS[:3]], branch="feat", evolve=evolve)
    main, feat = same_as_pyiceberg(lh, "main", "raw.t"), same_as_pyiceberg(lh, "feat", "raw.t")
    assert len(main.files()) == 2 and len(feat.files()) == 3 and feat.records() == 13
    assert [f.name for f in feat.schema.fields] == ["id", "v", "label", "extra"] and len(feat.schemas) == 2
    head = lh.catalog.get_ref("main").hash
    assert same_as_pyiceberg(lh, f"main@{head}", "raw.t").snapshot_id == main.snapshot_id


def test_a_table_without_snapshots(lh: Lakehouse) -> None:
    with lh.writing("main", "create") as w:
        w.iceberg.create_table("raw.empty", schema=pa.schema([("id", pa.int64())]))
    side = same_as_pyiceberg(lh, "main", "raw.empty")
    assert side.empty and side.files() == {} and side.records() == 0


def test_delete_files_are_counted(lh: Lakehouse) -> None:
    write(lh, "raw.t", ROWS)
    (path,) = load_side(lh.catalog, "main", "raw.t").files()
    _position_deletes(lh, "main", "raw.t", path, [0, 1])
    side = same_as_pyiceberg(lh, "main", "raw.t")
    assert side.has_deletes() and side.records() is None


@pytest.mark.parametrize("kind", ["format_version_1", "gzip"])
def test_other_metadata_files_are_read_by_pyiceberg(lh: Lakehouse, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    arrow = pa.Table.from_pylist(ROWS)
    properties = {"format-version": "1"} if kind == "format_version_1" else {}
    with lh.writing("main", "create") as w:
        w.iceberg.create_table("raw.t", schema=arrow.schema, properties=properties).append(arrow)
    if kind == "gzip":  # the same metadata, gzip-compressed under pyiceberg's name for it
        plain = Path(lh.catalog.tables("main")["raw.t"])
        packed = plain.with_name(plain.name.replace(".metadata.json", ".gz.metadata.json"))
        packed.write_bytes(gzip.compress(plain.read_bytes()))
        lh.catalog.commit("main", {"raw.t": str(packed)}, "gzip the metadata")
    loads: list[str] = []
    real = type(lh.catalog).load_table
    monkeypatch.setattr(type(lh.catalog), "load_table",
                        lambda self, ref, table, **kw: loads.append(ref) or real(self, ref, table, **kw))
    side = same_as_pyiceberg(lh, "main", "raw.t")
    assert loads == ["main", "main"]  # load_side's fallback, then the comparison's own
    assert side.records() == len(ROWS) and len(side.files()) == 1


def test_missing_tables_and_refs(lh: Lakehouse) -> None:
    write(lh, "raw.t", ROWS)
    with pytest.raises(TableNotFound):
        load_side(lh.catalog, "main", "raw.nope")
    with pytest.raises(RefNotFound):
        load_side(lh.catalog, "nope", "raw.t")
