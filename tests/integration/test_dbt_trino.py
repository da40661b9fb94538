"""dbt-trino builds the sample dbt project into a branch's Trino catalog (real Trino, Nessie, S3).

The profile comes from :func:`branchops.engine.trino.dbt_profile_output`; the raw tables are
written by branchops (pyiceberg) on ``main``, the models by Trino on ``feat``: the branch gets
every model, ``main`` none, and branchops' Nessie backend reads the models dbt wrote.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import duckdb
import pytest
from trino_server import TrinoServer

from branchops.config import Settings
from branchops.demo import demo_relations
from branchops.engine.trino import TrinoEngine, dbt_profile_output
from branchops.lakehouse import Lakehouse

pytestmark = pytest.mark.integration

SAMPLE_PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
MODELS = ("stg_customers", "stg_orders", "stg_payments", "orders", "customers", "customer_segments",
          "fct_daily_revenue", "monthly_revenue")


def dbt(argv: list[str]) -> Any:
    with warnings.catch_warnings():
        # third-party noise: dbt-core 1.10 imports click's deprecated parser classes, and
        # dbt-trino's macros hold a regex ("(\w+)...") that Python warns about when Jinja compiles it
        warnings.filterwarnings("ignore", r"'parser\.\w+' is deprecated", DeprecationWarning)
        warnings.filterwarnings("ignore", r"invalid escape sequence", DeprecationWarning)
        from dbt.cli.main import dbtRunner

        return dbtRunner().invoke(argv)


#: Trino's Nessie client lost its HTTP exchange with Nessie (an I/O error, not an answer)
NESSIE_TRANSPORT_ERROR = re.compile(r"Failed to execute \w+ request against '[^']*/api/v2/")
QUERY_ID = re.compile(r"query_id=(\w+)")


def build_or_explain(argv: list[str], trino: TrinoServer) -> None:
    """``dbt build``; a failure names each failed query's whole cause chain from Trino.

    Nodes that failed only on an I/O error between Trino and Nessie (two servers, neither
    branchops) are run once more with ``dbt retry``, in a fresh process; the causes are
    printed either way, so a recurring blip stays visible in the test's output.
    """
    res = dbt(["build", *argv])
    errors = [f"{r.node.name}: {r.message}" for r in (res.result or []) if r.status == "error"]
    causes = {qid: trino.failure_causes(qid) for e in errors for qid in QUERY_ID.findall(e)}
    if res.success:
        return
    print("dbt build failed:", errors, "causes:", causes)
    if errors and all(NESSIE_TRANSPORT_ERROR.search(e) for e in errors):
        retry = subprocess.run([str(Path(sys.executable).parent / "dbt"), "retry", *argv],
                               capture_output=True, text=True, timeout=600)
        print(retry.stdout[-4000:], retry.stderr[-4000:])
        assert retry.returncode == 0, (errors, causes, retry.stdout[-2000:])
        return
    raise AssertionError((res.exception, errors, causes))


def test_dbt_trino_builds_the_sample_project_on_a_branch(
    trino_settings: Settings, trino_server: TrinoServer, tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    shutil.copytree(SAMPLE_PROJECT, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    with Lakehouse(trino_settings) as lh:
        con = duckdb.connect()
        for table, sql in demo_relations(0.002).items():
            lh.ingest(table, con.sql(sql).to_arrow_table())
        con.close()
        lh.catalog.create_branch("feat", "main")

        with TrinoEngine(lh.catalog, lh.settings) as engine:
            catalog = engine.ensure_catalog("feat")
            output = dbt_profile_output(lh.settings, "feat", threads=2)
            assert output["database"] == catalog
            profiles = tmp_path / "profiles"
            profiles.mkdir()
            profile = {"branchops_shop": {"target": "branchops", "outputs": {"branchops": output}}}
            (profiles / "profiles.yml").write_text(json.dumps(profile))

            build_or_explain(["--project-dir", str(project), "--profiles-dir", str(profiles),
                              "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
                             trino_server)

            on_feat = lh.catalog.tables("feat")
            on_main = lh.catalog.tables("main")
            for model in MODELS:
                assert f"analytics.{model}" in on_feat
                assert f"analytics.{model}" not in on_main
            assert "int_order_payments" not in " ".join(on_feat)  # ephemeral

            n_trino = engine.query(f"SELECT count(*) FROM {engine.relation('feat', 'analytics.orders')}")[0][0]
            n_raw = engine.query(f"SELECT count(*) FROM {engine.relation('feat', 'raw.orders')}")[0][0]
        assert n_trino == n_raw > 0
        # what dbt-trino wrote is read back by branchops itself (pyiceberg over the same S3)
        assert lh.read("analytics.orders", "feat").num_rows == n_trino


def test_branchops_dbt_build_on_trino_publishes_one_commit_or_nothing(
    trino_settings: Settings, tmp_path: Path
) -> None:
    from branchops.dbt import DbtRunFailed, build

    project = tmp_path / "project"
    shutil.copytree(SAMPLE_PROJECT, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    with Lakehouse(trino_settings) as lh:
        con = duckdb.connect()
        for table, sql in demo_relations(0.001).items():
            lh.ingest(table, con.sql(sql).to_arrow_table())
        con.close()
        lh.catalog.create_branch("feat", "main")
        before = lh.catalog.get_ref("feat").hash

        result = build(lh, "feat", project, dbt_output="stderr")
        assert result.success and result.hash is not None
        assert {"analytics.stg_orders", "analytics.orders"} <= set(result.published)
        log = lh.catalog.log("feat")
        assert log[0].hash == result.hash and log[1].hash == before  # exactly one commit
        assert result.manifest and log[0].properties.get("branchops.dbt.manifest") == result.manifest
        assert "analytics.orders" not in lh.catalog.tables("main")
        internal = [r.name for r in lh.catalog.list_refs(include_internal=True) if r.name not in ("main", "feat")]
        assert internal == []  # the write-audit-publish fork is gone
        with TrinoEngine(lh.catalog, lh.settings) as engine:
            leftovers = {c for c in engine.existing_catalogs() if c.startswith("b_branchops_wap_")}
        assert leftovers == set()

        # a model that fails in Trino: nothing is published, the branch stays where it was
        (project / "models" / "marts" / "orders.sql").write_text("select 1 / 0 as boom")
        after_success = lh.catalog.get_ref("feat").hash
        with pytest.raises(DbtRunFailed):
            build(lh, "feat", project, select=["orders"], dbt_output="stderr")
        assert lh.catalog.get_ref("feat").hash == after_success
