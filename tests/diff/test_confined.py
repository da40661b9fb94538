"""A diff whose changes sit in a few files: the sources are paired directly (no stored rows), the
duplicate check is skipped when no other file may hold the keys read, and the tables' metadata is
read without pyarrow; every figure is the same as on the general paths."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan

from branchops.catalog.local_io import LocalInputFile, MetadataReadIO, local_path, metadata_read_io
from branchops.diff import Method, diff_refs
from branchops.diff import rows as rows_mod
from branchops.diff.snapshots import TableSnapshot
from branchops.engine.duckdb import DuckDBEngine
from branchops.lakehouse import Lakehouse
from tests.diff.conftest import expected_keyed, write
from tests.diff.test_compute import SCHEMA, TOL, check_keyed, mutate, orders

#: what a pruned diff process does without (see the modules' docs)
HEAVY = ("pyiceberg.io.pyarrow", "pyarrow.dataset", "pyiceberg.table", "pyiceberg.catalog", "pyiceberg.manifest")


class SpyEngine(DuckDBEngine):
    """Records the scratch tables a diff stores and the queries it runs."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.stored: list[str] = []
        self.queries: list[str] = []

    def materialize(self, name: str, sql: str) -> str:
        self.stored.append(name.removeprefix("__branchops_diff_").rstrip("0123456789"))
        return super().materialize(name, sql)

    def query_arrow(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        self.queries.append(sql)
        return super().query_arrow(sql, params)


@pytest.fixture
def spy(lh: Lakehouse) -> Iterator[SpyEngine]:
    with SpyEngine(lh.catalog) as engine:
        yield engine


def confined(lh: Lakehouse, *, repeat_key: bool = False) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Base in four files of 100 ids each; on ``feat`` the first file's rows are deleted (the whole
    file) and appended changed: rows changed, removed and added, all in one new file."""
    base = orders(400)
    for i in range(4):
        write(lh, "raw.orders", base[i * 100:(i + 1) * 100], schema=SCHEMA)
    lh.catalog.create_branch("feat", "main")
    # the added rows' ids below the first file's (mutate adds 10,000 and up): no other file's bounds
    changed = [dict(r, id=-1 - r["id"] % 10_000) if r["id"] >= 10_000 else r for r in mutate(base[:100])]
    if repeat_key:
        changed.append(dict(changed[0], qty=99))
    with lh.writing("feat", "change the first file") as w:
        w.iceberg.load_table("raw.orders").delete(And(GreaterThanOrEqual("id", 0), LessThan("id", 100)))
        w.iceberg.load_table("raw.orders").append(pa.Table.from_pylist(changed, schema=SCHEMA))
    return base, changed + base[100:]


def test_few_rows_are_paired_directly_and_agree_with_the_one_pass(
    lh: Lakehouse, spy: SpyEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, head = confined(lh)
    keys = {"raw.orders": ("id",)}
    paired = diff_refs(lh, "main", "feat", engine=spy, keys=keys, sample=3).table("raw.orders")
    assert paired.method is Method.FILE_PRUNING and paired.files is not None
    assert (paired.files.read_base, paired.files.read_head) == (1, 1)
    assert spy.stored == []  # no stored rows: the two sources paired in two queries
    # no duplicate check: the rows read have unique keys and no other file may hold them
    assert not [s for s in spy.queries if "HAVING" in s.upper()]
    assert len(spy.queries) == 2
    check_keyed(paired, expected_keyed(base, head, ["id"], TOL))
    assert paired.duplicate_keys is not None
    assert (paired.duplicate_keys.base, paired.duplicate_keys.head) == (0, 0)

    monkeypatch.setattr(rows_mod, "PAIRED_MAX_ROWS", 0)  # the one pass, as for many rows
    spy.stored.clear()
    one_pass = diff_refs(lh, "main", "feat", engine=spy, keys=keys, sample=3).table("raw.orders")
    assert spy.stored[:1] == ["f"]
    assert one_pass.to_dict() == paired.to_dict()


def test_a_repeated_key_among_few_rows_takes_the_general_path(
    lh: Lakehouse, spy: SpyEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    confined(lh, repeat_key=True)
    keys = {"raw.orders": ("id",)}
    t = diff_refs(lh, "main", "feat", engine=spy, keys=keys, sample=3).table("raw.orders")
    assert t.method is Method.FILE_PRUNING
    assert spy.stored[:1] == ["k"]  # the pairing proved a key repeats: the group-by that counts them
    assert t.duplicate_keys is not None and (t.duplicate_keys.base, t.duplicate_keys.head) == (0, 1)
    monkeypatch.setattr(rows_mod, "PAIRED_MAX_ROWS", 0)  # as before: the one pass finds the repeat
    spy.stored.clear()
    before = diff_refs(lh, "main", "feat", engine=spy, keys=keys, sample=3).table("raw.orders")
    assert spy.stored[:1] == ["f"] and "k" in spy.stored
    assert before.to_dict() == t.to_dict()


def test_profiles_of_a_full_scan_still_take_the_one_pass(lh: Lakehouse, spy: SpyEngine) -> None:
    base = orders(300)
    write(lh, "raw.orders", base, schema=SCHEMA)
    lh.catalog.create_branch("feat", "main")
    write(lh, "raw.orders", mutate(base), schema=SCHEMA, branch="feat", mode="overwrite")
    t = diff_refs(lh, "main", "feat", engine=spy, keys={"raw.orders": ("id",)}).table("raw.orders")
    assert t.method is Method.FULL_SCAN and t.profile_source == "scan"
    assert spy.stored[:1] == ["f"]


def test_metadata_read_io_reads_what_pyiceberg_reads(lh: Lakehouse) -> None:
    base, head = confined(lh)
    for ref in ("main", "feat"):
        light = lh.catalog.load_table(ref, "raw.orders", scans=False)
        full = lh.catalog.load_table(ref, "raw.orders")
        assert isinstance(light.io, MetadataReadIO) and not isinstance(full.io, MetadataReadIO)
        assert light.metadata == full.metadata
        a, b = TableSnapshot.load(light), TableSnapshot.load(full)
        assert a.files() == b.files() and len(a.files()) == 4
        assert a.records() == b.records() == len(base if ref == "main" else head)


def test_metadata_read_io_opens_only_local_files_itself(tmp_path: Path) -> None:
    f = tmp_path / "m.json"
    f.write_text("{}")
    assert local_path(str(f)) == str(f) and local_path(f"file://{f}") == str(f)
    assert local_path("s3://bucket/m.json") is None and local_path("file://host/m.json") is None
    io = metadata_read_io({}, str(f))
    assert isinstance(io, MetadataReadIO)
    local = io.new_input(f"file://{f}")
    assert isinstance(local, LocalInputFile) and len(local) == 2 and local.exists()
    with local.open() as stream:
        assert stream.read() == b"{}"
    assert not isinstance(io.new_input("s3://bucket/m.json"), LocalInputFile)  # pyiceberg's FileIO
    # a FileIO the settings choose, or a remote table, is pyiceberg's as before
    chosen = metadata_read_io({"py-io-impl": "pyiceberg.io.pyarrow.PyArrowFileIO"}, str(f))
    assert not isinstance(chosen, MetadataReadIO)
    assert not isinstance(metadata_read_io({}, "s3://bucket/t/metadata/m.json"), MetadataReadIO)


def test_a_pruned_diff_process_loads_neither_pyiceberg_table_nor_pyarrows_file_io(
    lh: Lakehouse, tmp_path: Path
) -> None:
    """pyiceberg's default FileIO module imports pyarrow's compute, dataset and fs (~0.13 s); its
    Table, catalog and manifest reader another ~0.17 s: the diff reads metadata without them."""
    confined(lh)
    (tmp_path / "branchops.toml").touch()
    code = (
        "import sys\n"
        "from branchops.cli import main\n"
        "try:\n"
        "    main(['--output', 'json', 'diff', 'feat', '--key', 'raw.orders=id'])\n"
        "finally:\n"
        f"    print('LOADED', [m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode in (0, 1), out.stderr
    assert json.loads(out.stdout)["tables"][0]["method"] == "file_pruning"
    assert out.stderr.strip().splitlines()[-1] == "LOADED []"
