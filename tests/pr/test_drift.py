"""Drift: the report names the diff mode and the raw tables (dbt sources) that moved after the
base's last dbt build, read from the manifest stored with that build."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import rows

from branchops.dbt.artifacts import MANIFEST_PROPERTY
from branchops.lakehouse import Lakehouse
from branchops.pr import Outcome, Status
from branchops.pr.diff_step import DataDiffer
from branchops.pr.render import render_report


def stored_build(lh: Lakehouse, tmp_path: Path) -> str:
    """A commit on main naming a manifest whose sources are raw.orders and raw.customers."""
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"nodes": {}, "sources": {
        "source.p.raw.orders": {"resource_type": "source", "schema": "raw", "name": "orders", "identifier": "orders"},
        "source.p.raw.customers": {"resource_type": "source", "schema": "raw", "name": "customers"}}}))
    return lh.catalog.commit("main", {}, "dbt build", properties={MANIFEST_PROPERTY: str(manifest)}).hash


def test_plain_diff_names_the_sources_that_moved_since_the_base_build(lakehouse: Lakehouse, tmp_path: Path) -> None:
    build = stored_build(lakehouse, tmp_path)
    lakehouse.catalog.create_branch("pr-3", "main")
    undrifted = DataDiffer().diff(lakehouse, base=f"main@{lakehouse.catalog.get_ref('main').hash}", head="pr-3",
                                  keys={})
    assert undrifted.mode == "plain" and undrifted.drift is not None
    assert undrifted.to_dict()["drift"] == {"since_build": build, "moved_sources": []}
    lakehouse.ingest("raw.orders", rows(2, start=100), mode="append")  # raw data lands after the build
    head = lakehouse.catalog.get_ref("main").hash
    lakehouse.catalog.create_branch("pr-4", "main")
    diff = DataDiffer().diff(lakehouse, base=f"main@{head}", head="pr-4", keys={})
    assert diff.to_dict()["drift"] == {"since_build": build, "moved_sources": ["raw.orders"]}
    md = render_report(Outcome("sync", 4, "pr-4", Status.PASSED, sha="c" * 40, base="main"), None, diff)
    assert "diff mode: `plain`" in md and "`raw.orders`" in md and "raw.customers" not in md
    md = render_report(Outcome("sync", 3, "pr-3", Status.PASSED, sha="c" * 40, base="main"), None, undrifted)
    assert "diff mode" not in md
