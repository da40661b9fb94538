"""Helpers of the Dagster tests (a module of its own: every test folder has a `conftest`)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa

from branchops.config import load_settings
from branchops.demo import load_demo_data
from branchops.lakehouse import Lakehouse
from branchops.project_init import init_project

PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
#: 500 customers, 5,000 orders: every model has rows, a build takes seconds
SCALE = 0.005
ORDERS = 5000
MODELS = ["customer_segments", "customers", "fct_daily_revenue", "monthly_revenue", "orders",
          "payment_methods", "stg_customers", "stg_orders", "stg_payments"]


def new_lakehouse(root: Path) -> Lakehouse:
    """A fresh embedded lakehouse with the demo raw tables on main."""
    init_project(root)
    lh = Lakehouse(load_settings(root / "branchops.toml"))
    load_demo_data(lh, SCALE)
    return lh


def copy_project(dest: Path) -> Path:
    shutil.copytree(PROJECT, dest, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    return dest


def snapshot(lh: Lakehouse) -> dict[str, Any]:
    """Every ref with its hash, and main's tables: what "nothing was written" compares."""
    return {"refs": sorted((r.name, r.hash) for r in lh.catalog.list_refs()),
            "main": lh.catalog.tables(lh.main)}


def duplicate_order(lh: Lakehouse, branch: str) -> None:
    """Land one raw order again (its id already exists): dbt's unique test on orders fails."""
    first = lh.read("raw.orders", branch).slice(0, 1)
    lh.ingest("raw.orders", first, branch=branch)


def new_orders(lh: Lakehouse, branch: str, count: int) -> None:
    """Land ``count`` new orders (and their payments) after the existing ones."""
    load_demo_data(lh, SCALE, branch=branch, orders=(ORDERS + 1, ORDERS + 1 + count), append=True)


def rows(table: pa.Table) -> int:
    return int(table.num_rows)


def git(*args: str, cwd: Path) -> str:
    import subprocess

    env_args = ["-c", "user.name=branchops tests", "-c", "user.email=tests@branchops.invalid",
                "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]
    done = subprocess.run(["git", *env_args, *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def dbt_repo(root: Path, markers: list[str]) -> tuple[Path, list[str]]:
    """A bare git repository holding the sample project under ``dbt_project/``, one commit per
    marker: ``stg_customers`` gets a ``code_version`` column holding it. Returns the bare repo
    and the commits' shas."""
    work = root / "work"
    work.mkdir(parents=True)
    git("init", "--quiet", cwd=work)
    project = copy_project(work / "dbt_project")
    model = project / "models" / "staging" / "stg_customers.sql"
    original = model.read_text()
    shas = []
    for marker in markers:
        model.write_text(original.replace("    country\n", f"    country,\n    '{marker}' as code_version\n"))
        git("add", "-A", cwd=work)
        git("commit", "--quiet", "-m", f"dbt code {marker}", cwd=work)
        shas.append(git("rev-parse", "HEAD", cwd=work))
    bare = root / "dbt.git"
    git("clone", "--quiet", "--bare", str(work), str(bare), cwd=root)
    return bare, shas


def record_pr_merge(lh: Lakehouse, pr: int, sha: str) -> None:
    """Merge a PR branch into main with the audit properties `branchops pr merge` writes."""
    from branchops.pr.model import MERGE_OP, OPERATION, PR_PROPERTY

    branch = f"pr-{pr}"
    lh.catalog.create_branch(branch, from_ref=lh.main)
    lh.ingest(f"raw.pr_{pr}_marker", pa.table({"pr": [pr]}), branch=branch)
    lh.catalog.merge(branch, lh.main, message=f"merge PR #{pr}", squash=True,
                     properties={OPERATION: MERGE_OP, PR_PROPERTY: str(pr), f"{PR_PROPERTY}.sha": sha})
    lh.drop_branch(branch)
