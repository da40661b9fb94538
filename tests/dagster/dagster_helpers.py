"""Helpers of the Dagster tests (a module of its own: every test folder has a `conftest`)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa

from branchops.config import load_settings
from branchops.demo import load_demo_data
from branchops.lakehouse import Lakehouse
from branchops.setup import init_project

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
