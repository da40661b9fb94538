"""``diff.manifests`` reads the live files of a snapshot as pyiceberg reads them: every field a
diff uses, on data and delete files, partitions, nested and typed columns, overwritten entries,
format version 1 and each codec (zstandard through pyiceberg)."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import LongType, NestedField, StringType

from branchops.diff import manifests
from branchops.diff.manifests import UnsupportedManifest, live_files, live_files_by_pyiceberg, read_avro
from branchops.diff.metadata_file import load_side
from branchops.lakehouse import Lakehouse
from tests.diff.conftest import write
from tests.diff.test_paths import _position_deletes

TYPED = pa.schema([
    ("id", pa.int64()), ("i", pa.int32()), ("f", pa.float32()), ("d", pa.float64()), ("s", pa.string()),
    ("b", pa.bool_()), ("day", pa.date32()), ("ts", pa.timestamp("us")), ("tz", pa.timestamp("us", tz="UTC")),
    ("dec", pa.decimal128(10, 2)), ("bin", pa.binary()),
    ("st", pa.struct([("x", pa.int64()), ("y", pa.string())])), ("l", pa.list_(pa.int32())),
])


def typed_rows(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"id": i, "i": i % 7, "f": i / 3, "d": None if i % 5 == 0 else i * 1.5, "s": f"s{i:04d}",
             "b": i % 2 == 0, "day": dt.date(2024, 1, 1) + dt.timedelta(days=i), "ts": dt.datetime(2024, 1, 1, i % 24),
             "tz": dt.datetime(2024, 1, 1, tzinfo=dt.UTC), "dec": decimal.Decimal(i) / 4,
             "bin": bytes([i % 256]), "st": {"x": i, "y": None}, "l": [i, i + 1]}
            for i in range(start, start + n)]


def same_as_pyiceberg(lh: Lakehouse, ref: str, table: str) -> list[manifests.DataFileEntry]:
    side = load_side(lh.catalog, ref, table)
    assert side.manifest_list is not None
    ours = live_files(side.io, side.manifest_list)
    assert ours == live_files_by_pyiceberg(side.io, side.manifest_list)
    return ours


def test_typed_nested_columns_and_overwritten_entries(lh: Lakehouse) -> None:
    write(lh, "raw.t", typed_rows(50), schema=TYPED)
    write(lh, "raw.t", typed_rows(50, 50), schema=TYPED)
    lh.catalog.create_branch("feat", "main")
    write(lh, "raw.t", typed_rows(30, 100), schema=TYPED, branch="feat", mode="overwrite")  # old entries DELETED
    main, feat = same_as_pyiceberg(lh, "main", "raw.t"), same_as_pyiceberg(lh, "feat", "raw.t")
    assert len(main) == 2 and len(feat) == 1 and feat[0].record_count == 30
    assert feat[0].lower_bounds and feat[0].value_counts and feat[0].null_value_counts is not None


def test_partitions_and_delete_files(lh: Lakehouse) -> None:
    schema = Schema(NestedField(1, "id", LongType()), NestedField(2, "region", StringType()))
    spec = PartitionSpec(PartitionField(2, 1000, IdentityTransform(), "region"))
    with lh.writing("main", "create") as w:
        tbl = w.iceberg.create_table("raw.p", schema=schema, partition_spec=spec)
        tbl.append(pa.Table.from_pylist([{"id": i, "region": "eu" if i % 2 else "us"} for i in range(20)],
                                        schema=schema.as_arrow()))
    assert len(same_as_pyiceberg(lh, "main", "raw.p")) == 2
    write(lh, "raw.t", typed_rows(20), schema=TYPED)
    (data,) = same_as_pyiceberg(lh, "main", "raw.t")
    _position_deletes(lh, "main", "raw.t", data.file_path, [0])  # (the helper writes unpartitioned deletes)
    after = same_as_pyiceberg(lh, "main", "raw.t")
    assert sorted(f.content for f in after) == [0, 1]
    assert load_side(lh.catalog, "main", "raw.t").has_deletes()


@pytest.mark.parametrize("properties", [{"format-version": "1"}, {"write.avro.compression-codec": "null"}])
def test_format_version_1_and_uncompressed(lh: Lakehouse, properties: dict[str, str]) -> None:
    arrow = pa.Table.from_pylist(typed_rows(20), schema=TYPED)
    with lh.writing("main", "create") as w:
        w.iceberg.create_table("raw.t", schema=TYPED, properties=properties).append(arrow)
    assert len(same_as_pyiceberg(lh, "main", "raw.t")) == 1


def test_another_codec_is_read_by_pyiceberg(lh: Lakehouse) -> None:
    arrow = pa.Table.from_pylist(typed_rows(20), schema=TYPED)
    with lh.writing("main", "create") as w:
        w.iceberg.create_table("raw.t", schema=TYPED, properties={"write.avro.compression-codec": "zstd"}).append(arrow)
    side = load_side(lh.catalog, "main", "raw.t")
    assert side.manifest_list is not None
    with pytest.raises(UnsupportedManifest, match="zstandard"):
        live_files(side.io, side.manifest_list)
    assert list(side.files().values()) == live_files_by_pyiceberg(side.io, side.manifest_list)
    assert side.records() == 20


def test_not_an_avro_file_or_a_broken_block() -> None:
    with pytest.raises(UnsupportedManifest):
        list(read_avro(b"{}"))
    header = b"Obj\x01" + b"\x02" + b"\x16avro.schema" + b"\x0c\"long\"" + b"\x00" + b"S" * 16
    assert list(read_avro(header + b"\x04\x04\x02\x04" + b"S" * 16)) == [1, 2]  # two longs, zigzag 2 and 4
    with pytest.raises(UnsupportedManifest, match="sync"):
        list(read_avro(header + b"\x04\x04\x02\x04" + b"X" * 16))
    with pytest.raises(UnsupportedManifest, match="IndexError"):  # two values said, one there
        list(read_avro(header + b"\x04\x02\x02" + b"S" * 16))
    unknown = b"Obj\x01" + b"\x02" + b"\x16avro.schema" + b"\x12\"a.b.Rec\"" + b"\x00" + b"S" * 16
    with pytest.raises(UnsupportedManifest, match="KeyError"):  # a named type never defined
        list(read_avro(unknown + b"\x02\x02\x02" + b"S" * 16))
