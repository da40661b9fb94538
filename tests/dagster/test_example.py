"""examples/dagster: `dagster definitions validate` accepts it, and its nightly job runs."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster_helpers import ORDERS

from branchops.lakehouse import Lakehouse

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dagster" / "definitions.py"


def test_dagster_definitions_validate_accepts_the_example(dagster_home: Path, tmp_path: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home)}
    done = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", "-f", str(EXAMPLE)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "All code locations passed validation" in done.stderr + done.stdout


def test_the_examples_nightly_lands_orders_into_main(lakehouse: Lakehouse, config_path: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRANCHOPS_CONFIG", config_path)
    monkeypatch.setenv("BRANCHOPS_DEV_BRANCH", "dev")
    spec = importlib.util.spec_from_file_location("branchops_dagster_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    defs: dg.Definitions = module.defs
    before = lakehouse.catalog.get_ref("main").hash
    result = defs.resolve_job_def("branchops_nightly").execute_in_process(raise_on_error=False)
    assert result.success
    merge = lakehouse.catalog.log("main", limit=2)
    assert merge[1].hash == before and merge[0].properties["branchops.dagster.run_id"] == result.run_id
    orders = lakehouse.read("raw.orders")
    assert orders.num_rows == ORDERS + module.NIGHTLY_ORDERS
    assert lakehouse.read("analytics.orders").num_rows == ORDERS + module.NIGHTLY_ORDERS
