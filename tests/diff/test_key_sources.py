"""Keys from flags and from the dbt manifest stored with a ref."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from branchops.diff import diff_refs, keys_from_manifest, parse_key_flags
from branchops.diff.key_sources import load_ref_manifest
from branchops.errors import UsageError
from branchops.lakehouse import Lakehouse
from tests.diff.conftest import write


def manifest() -> dict[str, Any]:
    def model(name: str, **kw: Any) -> dict[str, Any]:
        return {"resource_type": "model", "schema": "mart", "name": name, "alias": name, **kw}

    def test(name: str, target: str, kwargs: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        return {"resource_type": "test", "attached_node": target, "depends_on": {"nodes": [target]},
                "test_metadata": {"name": name, "kwargs": kwargs, "namespace": namespace}}

    return {
        "nodes": {
            "model.p.orders": model("orders"),
            "model.p.customers": model("customers", meta={"primary_key": "customer_id"}),
            "model.p.items": model("items", config={"unique_key": ["order_id", "line"]}),
            "model.p.pairs": model("pairs"),
            "model.p.both": model("both", config={"unique_key": "x", "meta": {"primary_key": ["y"]}}),
            "test.p.u1": test("unique", "model.p.orders", {"column_name": "order_id"}),
            "test.p.u2": test("unique_combination_of_columns", "model.p.pairs",
                              {"combination_of_columns": ["a", "b"]}, "dbt_utils"),
            "test.p.nn": test("not_null", "model.p.pairs", {"column_name": "a"}),
        },
        "sources": {"source.p.raw.events": {"resource_type": "source", "schema": "raw", "name": "events",
                                            "identifier": "events"}},
    }


def test_keys_from_manifest() -> None:
    keys = keys_from_manifest(manifest())
    assert keys == {
        "mart.orders": (("order_id",), "manifest:unique test"),
        "mart.customers": (("customer_id",), "manifest:meta.primary_key"),
        "mart.items": (("order_id", "line"), "manifest:unique_key"),
        "mart.pairs": (("a", "b"), "manifest:unique_combination_of_columns"),
        "mart.both": (("y",), "manifest:meta.primary_key"),
    }


def test_parse_key_flags() -> None:
    assert parse_key_flags(["raw.orders=order_id", "mart.x=a, b"]) == {"raw.orders": ("order_id",),
                                                                       "mart.x": ("a", "b")}
    for bad in ("raw.orders", "raw.orders=", "=a"):
        with pytest.raises(UsageError):
            parse_key_flags([bad])


def test_manifest_stored_with_ref_gives_the_key(lh: Lakehouse, tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest()))
    write(lh, "mart.orders", [{"order_id": i, "v": i} for i in range(10)])
    lh.catalog.create_branch("feat", "main")
    with lh.writing("feat", "dbt build", properties={"branchops.dbt.manifest": str(path)}) as w:
        tbl = w.iceberg.load_table("mart.orders")
        import pyarrow as pa

        tbl.overwrite(pa.Table.from_pylist([{"order_id": i, "v": i + (i == 3)} for i in range(10)],
                                           schema=tbl.schema().as_arrow()))
    assert load_ref_manifest(lh.catalog, "feat") == manifest()
    assert load_ref_manifest(lh.catalog, "main") is None
    t = diff_refs(lh, "main", "feat").table("mart.orders")
    assert t.key == ("order_id",) and t.key_source == "manifest:unique test"
    assert (t.rows.changed, t.columns) == (1, {"v": 1})
    # a flag wins over the manifest
    t = diff_refs(lh, "main", "feat", keys={"mart.orders": ("v",)}).table("mart.orders")
    assert t.key == ("v",) and t.key_source == "flag"
