"""A dbt run reports "[i/n] dbt: ..." for every node dbt starts, when someone is watching."""

from __future__ import annotations

from pathlib import Path

from dbt_helpers import PROJECT, SCALE, new_lakehouse

from branchops import progress
from branchops.dbt import run_dbt
from branchops.demo import load_demo_data


def test_dbt_run_reports_one_counted_line_per_node(tmp_path: Path) -> None:
    lh = new_lakehouse(tmp_path / "lh")
    try:
        load_demo_data(lh, SCALE)
        seen: list[str] = []
        with progress.showing(seen.append):
            result = run_dbt(lh, "run", branch="main", project_dir=PROJECT, select=["stg_orders", "stg_customers"],
                             dbt_output="stderr")
        ran = sorted(n.name for n in result.nodes if n.status == "success")
        assert ran == ["stg_customers", "stg_orders"]
        assert sorted(line.split("] ", 1)[0] for line in seen) == ["[1/2", "[2/2"], seen
        assert sorted(line.rsplit(".", 1)[-1] for line in seen) == ran  # "... model main.stg_orders"
        assert all("dbt: " in line and " model " in line for line in seen), seen
    finally:
        lh.close()
