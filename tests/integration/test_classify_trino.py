"""Change classification on the production stack (real Trino 476, Nessie, S3): the compiled SQL of
dbt-trino's manifests is read with sqlglot's trino dialect, and a non-breaking change builds only
the modified model while its downstream keeps main's tables (zero-copy)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prod_cli import SHA, Cli, write_config
from s3_server import S3Server
from test_pr_production import SAMPLE_PROJECT, checkout, demo_files

from branchops.config import Settings
from branchops.lakehouse import Lakehouse

pytestmark = pytest.mark.integration

SHA2 = "d" * 40
DOWNSTREAM = {"analytics.customer_segments"}  # reads customers (marts/customer_segments.sql)


def test_a_non_breaking_change_on_trino_builds_only_the_modified_model(
    trino_settings: Settings, s3_server: S3Server, tmp_path: Path
) -> None:
    cli = Cli(write_config(trino_settings, tmp_path / "lh", threads=2), env=s3_server.admin.env())
    for table, path in demo_files(tmp_path / "raw", 0.001).items():
        assert cli.json("ingest", table, str(path))["rows"] > 0
    project = checkout(SAMPLE_PROJECT, tmp_path / "project")
    assert cli.json("pr", "open", "--pr", "1", "--sha", SHA, "--project-dir", str(project))["status"] == "passed"
    assert cli.json("pr", "merge", "--pr", "1", "--sha", SHA)["status"] == "merged"

    # a new column in customers: nothing downstream can read it yet
    changed = checkout(project, tmp_path / "project-2",
                       ("customers", "    c.country,\n", "    c.country,\n    upper(c.country) as country_code,\n"))
    opened = cli.json("pr", "open", "--pr", "2", "--sha", SHA2, "--project-dir", str(changed))
    assert opened["status"] == "passed", opened.get("reason")
    lineage = opened["build"]["lineage"]
    assert lineage["fallback"] is None, lineage
    [model] = lineage["models"]
    assert (model["model"], model["kind"], model["added"]) == ("customers", "non-breaking", ["country_code"]), model
    assert opened["build"]["built"] == ["analytics.customers"]
    assert set(lineage["kept_from_base"]) == DOWNSTREAM
    assert opened["changed_tables"] == ["analytics.customers"]

    with Lakehouse(trino_settings) as lh:
        main, pr = lh.catalog.tables("main"), lh.catalog.tables("pr-2")
        assert all(pr[t] == main[t] for t in DOWNSTREAM)  # zero-copy: the same table pointer
    # the new column holds what the SQL says, on every row main has
    check = cli.json("sql", "select count(*) as n, count_if(country_code = upper(country)) as ok from customers",
                     "--branch", "pr-2")["rows"][0]
    n_main = cli.json("sql", "select count(*) as n from customers")["rows"][0]["n"]
    assert check["n"] == check["ok"] == n_main > 0
