"""New files of a branch go under ``<warehouse>/branches/<ref>/``: data, manifests and metadata
files of tables it creates and of tables it shares with main; main keeps its own layout, also
for tables merged in from a branch. Checked on the files themselves, in a local warehouse."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from branchops.config import Settings
from branchops.lakehouse import Lakehouse


def files(root: Path) -> set[str]:
    return {str(p) for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def lh(tmp_path: Path) -> Lakehouse:
    settings = Settings(root=tmp_path, catalog_uri=f"sqlite:///{tmp_path / 'catalog.db'}",
                        warehouse=str(tmp_path / "wh"))
    lakehouse = Lakehouse(settings)
    lakehouse.ingest("raw.orders", pa.table({"id": [1, 2, 3]}))
    return lakehouse


def test_a_branch_writes_only_under_its_own_prefix(lh: Lakehouse, tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    main_files = files(wh)
    assert main_files and not any("/branches/" in f for f in main_files)
    lh.catalog.create_branch("pr-1")
    lh.ingest("raw.orders", pa.table({"id": [4]}), branch="pr-1")  # a table shared with main
    lh.ingest("raw.new", pa.table({"x": ["a"]}), branch="pr-1")  # a table of its own
    with lh.writing("pr-1", "overwrite") as w:  # a second commit on one Table object
        tbl = w.iceberg.load_table("raw.orders")
        tbl.overwrite(pa.table({"id": [7, 8]}))
        tbl.append(pa.table({"id": [9]}))
    new = files(wh) - main_files
    prefix = str(wh / "branches" / "pr-1") + "/"
    assert new and all(f.startswith(prefix) for f in new), sorted(f for f in new if not f.startswith(prefix))
    kinds = {Path(f).suffix for f in new}
    assert {".parquet", ".avro", ".json"} <= kinds  # data, manifests and lists, metadata
    assert files(wh) >= main_files  # nothing of main's was replaced or removed
    assert sorted(lh.read("raw.orders", "pr-1")["id"].to_pylist()) == [7, 8, 9]
    assert sorted(lh.read("raw.orders", "main")["id"].to_pylist()) == [1, 2, 3]
    assert lh.read("raw.new", "pr-1")["x"].to_pylist() == ["a"]
    # the paths live in memory only: no table's stored properties name them
    for ref in ("pr-1", "main"):
        for location in lh.catalog.tables(ref).values():
            assert "write.data.path" not in json.loads(Path(location).read_text())["properties"]

    lh.catalog.merge("pr-1", "main")
    before = files(wh)
    lh.ingest("raw.orders", pa.table({"id": [10]}))  # main writes where the table lives again
    lh.ingest("raw.new", pa.table({"x": ["b"]}))
    after_main = files(wh) - before
    orders_home = Path(lh.catalog.load_table("main", "raw.orders").location())
    assert after_main and not any(f.startswith(prefix) for f in after_main if "raw/orders" in f)
    assert any(f.startswith(str(orders_home)) for f in after_main)
    assert sorted(lh.read("raw.new", "main")["x"].to_pylist()) == ["a", "b"]
