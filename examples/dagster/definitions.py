"""branchops driven by Dagster: the sample dbt project as assets built on a developer branch (or,
in a Dagster+ branch deployment, on the PR's branch `pr-N`), and the nightly write-audit-publish
job that lands raw data, builds and tests it on `nightly-<run id>` and merges into main only when
every check passed.

    branchops quickstart --dir demo            # a lakehouse with raw data (or `branchops init`)
    export BRANCHOPS_CONFIG=$PWD/demo/branchops.toml BRANCHOPS_DEV_BRANCH=dev-$USER
    dagster dev -f examples/dagster/definitions.py

Environment:
    BRANCHOPS_CONFIG        the lakehouse's branchops.toml (default: found upwards from here)
    BRANCHOPS_DEV_BRANCH    the developer branch materializations write to (forked from main
                            when missing); ignored in a branch deployment
    BRANCHOPS_DBT_PROJECT   the dbt project (default: the sample project of this repository)
    BRANCHOPS_DBT_REPO      optional: a git URL of the dbt code; the nightly job then checks out
                            the sha of main's last merged PR (BRANCHOPS_DBT_SUBDIR: its folder)
    BRANCHOPS_DAGSTER_URL   the Dagster UI's root, for the run URL in the merge commit
"""

from __future__ import annotations

import os
import tempfile
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from branchops.dagster import (
    BranchopsResource,
    GitDbtProject,
    RowCountCheck,
    branchops_dbt_assets,
    nightly_job,
    prepare_manifest,
)
from branchops.lakehouse import Lakehouse

HERE = Path(__file__).resolve().parent
DBT_PROJECT = Path(os.environ.get("BRANCHOPS_DBT_PROJECT") or HERE.parents[1] / "dbt_project")
#: orders one night's sync brings
NIGHTLY_ORDERS = 50
STATUSES = ("placed", "shipped", "completed")
METHODS = ("credit_card", "coupon", "bank_transfer", "gift_card")


def land_orders(lakehouse: Lakehouse, branch: str) -> None:
    """Stands in for an Airbyte sync: yesterday's new orders and their payments arrive as Parquet
    files and are appended to ``raw.orders`` / ``raw.payments`` on the nightly branch (ingest)."""
    orders = lakehouse.catalog.load_table(branch, "raw.orders").scan(selected_fields=("order_id", "customer_id"))
    existing = orders.to_arrow()
    first = int(pc.max(existing["order_id"]).as_py() or 0) + 1
    customers = int(pc.max(existing["customer_id"]).as_py() or 1)
    ids = list(range(first, first + NIGHTLY_ORDERS))
    day = date.today() - timedelta(days=1)
    new_orders = pa.table({
        "order_id": pa.array(ids, pa.int64()),
        "customer_id": pa.array([1 + i % customers for i in ids], pa.int64()),
        "order_date": pa.array([day] * len(ids), pa.date32()),
        "status": [STATUSES[i % len(STATUSES)] for i in ids],
    })
    payments = pa.table({
        "payment_id": pa.array([2 * i for i in ids], pa.int64()),
        "order_id": pa.array(ids, pa.int64()),
        "payment_method": [METHODS[i % len(METHODS)] for i in ids],
        "amount_cents": pa.array([100 + (i * 37) % 25000 for i in ids], pa.int32()),
    })
    with tempfile.TemporaryDirectory(prefix="landing-") as tmp:
        for table, data in (("raw.orders", new_orders), ("raw.payments", payments)):
            path = Path(tmp) / f"{table}.parquet"
            pq.write_table(data, path)
            lakehouse.ingest(table, path, branch=branch)


manifest = prepare_manifest(DBT_PROJECT, target_dir=HERE / "target")
dbt_models = branchops_dbt_assets(project_dir=DBT_PROJECT, manifest=manifest)

repo = os.environ.get("BRANCHOPS_DBT_REPO")
nightly = nightly_job(
    project=GitDbtProject(repo, subdir=os.environ.get("BRANCHOPS_DBT_SUBDIR", "dbt_project"), default_rev="main")
    if repo else DBT_PROJECT,
    landing=land_orders,
    dbt_assets=dbt_models,
    checks=[RowCountCheck("raw.orders", max_change=0.25), RowCountCheck("analytics.orders", max_change=0.25)],
)

defs = dg.Definitions(
    assets=[dbt_models],
    jobs=[nightly],
    schedules=[dg.ScheduleDefinition(job=nightly, cron_schedule="0 3 * * *")],
    resources={
        "branchops": BranchopsResource(
            config_path=os.environ.get("BRANCHOPS_CONFIG"),
            branch=os.environ.get("BRANCHOPS_DEV_BRANCH"),
            create_branch=True,
        ),
    },
)
