"""The first PR after upgrading dbt: the base's stored manifest was written by dbt 1.10. It still
serves as the state: the PR neither fails nor rebuilds everything, and the result says what it did."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from dbt_helpers import SCALE, copy_project, new_lakehouse

from branchops.dbt import build
from branchops.demo import load_demo_data

OLD_MANIFEST = Path(__file__).resolve().parent / "data" / "manifest_dbt_1_10.json.gz"


def test_a_dbt_1_10_manifest_serves_as_the_base(tmp_path: Path) -> None:
    lh = new_lakehouse(tmp_path / "lake")
    load_demo_data(lh, SCALE)
    main = build(lh, "main", copy_project(tmp_path / "prod"), dbt_output="stderr")
    assert main.manifest is not None
    old = json.loads(gzip.decompress(OLD_MANIFEST.read_bytes()))
    assert old["metadata"]["dbt_version"].startswith("1.10.")
    # main's stored build now is the one dbt 1.10 made (same models, same code)
    Path(main.manifest.removeprefix("file://")).write_text(json.dumps(old))

    lh.catalog.create_branch("pr-1", "main")
    project = copy_project(tmp_path / "pr")
    model = project / "models" / "marts" / "customer_segments.sql"
    model.write_text(model.read_text().replace(">= 1000 then 'gold'", ">= 800 then 'gold'"))
    result = build(lh, "pr-1", project, select=["state:modified+"], dbt_output="stderr")

    assert result.success
    assert result.built == ["analytics.customer_segments"]  # not the whole project
    assert any("dbt 1.10." in n and "node by node" in n for n in result.notes), result.notes
    assert result.to_dict()["notes"] == result.notes
