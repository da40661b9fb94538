"""The Dagster nightly write-audit-publish job on the production stack: real Nessie, Trino and
S3 (moto), dbt-trino building on `nightly-<run id>`, one merge commit into main."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from branchops.config import Settings, load_settings, write_default_config
from branchops.dagster import BranchopsResource, RowCountCheck, nightly_job
from branchops.demo import demo_relations
from branchops.lakehouse import Lakehouse

pytestmark = pytest.mark.integration

SAMPLE_PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
SCALE = 0.002
NEW_ORDERS = 20


def land(lakehouse: Lakehouse, branch: str, orders: tuple[int, int | None] | None = None) -> None:
    con = duckdb.connect()
    try:
        for table, sql in demo_relations(SCALE, orders).items():
            if orders is None or table != "raw.customers":
                lakehouse.ingest(table, con.sql(sql).to_arrow_table(), branch=branch)
    finally:
        con.close()


def test_nightly_job_on_nessie_trino_and_s3(trino_settings: Settings, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    s = trino_settings
    config = write_default_config(tmp_path, backend="nessie", nessie_uri=s.nessie_uri, warehouse=s.warehouse,
                                  engine="trino", trino_uri=s.trino_uri, s3_endpoint=s.s3_endpoint,
                                  s3_region=s.s3_region)
    project = shutil.copytree(SAMPLE_PROJECT, tmp_path / "project",
                              ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    with Lakehouse(load_settings(config)) as lh:
        land(lh, "main")
        orders = lh.read("raw.orders").num_rows
        before = [c.hash for c in lh.catalog.log("main")]
        new = (orders + 1, orders + 1 + NEW_ORDERS)
        job = nightly_job(project=project, landing=lambda lh, branch: land(lh, branch, new),
                          checks=[RowCountCheck("raw.orders", max_change=0.5)])
        result = job.execute_in_process(resources={"branchops": BranchopsResource(config_path=str(config))},
                                        raise_on_error=False)
        assert result.success, [e.step_failure_data.user_failure_data for e in result.get_step_failure_events()]
        log = lh.catalog.log("main")
        assert [c.hash for c in log[1:]] == before  # one merge commit
        assert log[0].properties["branchops.dagster.run_id"] == result.run_id
        assert lh.read("raw.orders").num_rows == orders + NEW_ORDERS
        assert lh.read("analytics.orders").num_rows == orders + NEW_ORDERS  # built by dbt-trino, merged
        assert f"nightly-{result.run_id}" not in {r.name for r in lh.catalog.list_refs()}
