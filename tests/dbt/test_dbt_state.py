"""state:modified+: a PR rebuilds what it changed and what is downstream; every other table
keeps main's pointer (zero-copy)."""

from __future__ import annotations

from pathlib import Path

import pytest

from branchops.dbt import DbtRunResult, build
from branchops.lakehouse import Lakehouse

DOWNSTREAM_OF_ORDERS = {"analytics.orders", "analytics.customers", "analytics.fct_daily_revenue",
                        "analytics.monthly_revenue", "analytics.customer_segments"}


def test_modified_plus_rebuilds_only_the_change_and_its_descendants(
    main_build: tuple[Lakehouse, DbtRunResult], project: Path
) -> None:
    lh, first = main_build
    lh.catalog.create_branch("pr-orders", "main")
    sql = project / "models" / "marts" / "orders.sql"
    sql.write_text(sql.read_text().replace("o.status,", "o.status,\n    o.order_id % 7 as bucket,"))
    main_tables = lh.catalog.tables("main")

    result = build(lh, "pr-orders", project, select=["state:modified+"], dbt_output="stderr")

    assert result.state_commit == first.hash and result.base == "main"
    assert set(result.built) == DOWNSTREAM_OF_ORDERS
    pr_tables = lh.catalog.tables("pr-orders")
    unchanged = set(main_tables) - DOWNSTREAM_OF_ORDERS
    assert {"analytics.stg_orders", "analytics.stg_payments", "analytics.payment_methods", "raw.orders"} <= unchanged
    assert {t: pr_tables[t] for t in unchanged} == {t: main_tables[t] for t in unchanged}  # same pointers
    assert {c.table for c in lh.catalog.diff("main", "pr-orders")} == DOWNSTREAM_OF_ORDERS
    assert set(result.reused) >= {"analytics.stg_orders", "analytics.stg_customers", "analytics.stg_payments"}
    assert "bucket" in lh.read("analytics.orders", "pr-orders").column_names
    assert [e.affected for e in result.exposures] == [True]


def test_state_selection_without_a_stored_build_is_a_usage_error(
    tmp_path: Path, project: Path
) -> None:
    from dbt_helpers import new_lakehouse

    from branchops.errors import UsageError

    lh = new_lakehouse(tmp_path / "empty")
    with pytest.raises(UsageError, match="no dbt build is recorded on main"):
        build(lh, "main", project, select=["state:modified+"], dbt_output="stderr")
    lh.close()


def test_a_build_says_whether_dbt_took_the_stored_partial_parse_state(
    main_build: tuple[Lakehouse, DbtRunResult], project: Path
) -> None:
    """dbt falls back to a full parse without a word when the stored state does not fit (other
    vars, profile, dbt version): the result says which parse it was, and why."""
    lh, _ = main_build
    lh.catalog.create_branch("pr-parse", "main")
    same = build(lh, "pr-parse", project, select=["stg_orders"], dbt_output="stderr")
    assert same.parse == "partial: nothing changed"
    other_vars = build(lh, "pr-parse", project, select=["stg_orders"], args=["--vars", "{bucket: 7}"],
                       dbt_output="stderr")
    assert other_vars.parse == "full: config vars, config profile, or config target have changed"
    assert other_vars.to_dict()["parse"] == other_vars.parse
