"""The PR lifecycle with the real build and diff steps (dbt-core + dbt-duckdb, the diff engine)
on the sample project at a tiny scale: failing tests gate the merge; a conflicting production
run is rebuilt over; the report names what changed."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from branchops import dbt
from branchops.demo import load_demo_data
from branchops.lakehouse import Lakehouse
from branchops.pr import OnConflict, PullRequests, Reporter, Status
from tests.shop import built_shop

SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lakehouse, Path]]:
    """A lakehouse with the sample raw data and a production build of main; a project checkout."""
    root = tmp_path_factory.mktemp("shop")
    with built_shop(root) as (lh, project):
        yield lh, project


def edit(project: Path, name: str, old: str, new: str) -> Path:
    src = next(project.rglob(f"{name}.sql"))
    copy = project.parent / f"{project.name}-{name}-{abs(hash(new)) % 10_000}"
    shutil.copytree(project, copy)
    target = next(copy.rglob(f"{name}.sql"))
    text = src.read_text()
    assert old in text
    target.write_text(text.replace(old, new))
    return copy


def test_failing_dbt_test_fails_the_sync_and_gates_the_merge(shop: tuple[Lakehouse, Path]) -> None:
    lh, project = shop
    printed: list[str] = []
    # every month the same: the unique test on order_month fails
    broken = edit(project, "monthly_revenue", "{{ dbt.date_trunc('month', 'order_date') }} as order_month",
                  "cast('2024-01-01' as date) as order_month")
    prs = PullRequests(lh, Reporter(None, echo=printed.append, env={}))
    main_before = lh.catalog.tables("main")
    out = prs.sync(31, SHA, broken)
    assert out.status is Status.FAILED and out.exit_code == 1
    assert out.validation and out.validation["tests"] == "failed"
    assert lh.catalog.tables("pr-31") == main_before  # nothing was published on the branch
    assert "unique_monthly_revenue_order_month" in printed[0]
    refused = prs.merge(31, SHA)
    assert refused.status is Status.REFUSED and lh.catalog.tables("main") == main_before
    assert prs.close(31).status is Status.CLOSED


def test_rebuild_over_a_production_run_that_changed_the_same_table(shop: tuple[Lakehouse, Path]) -> None:
    lh, project = shop
    printed: list[str] = []
    changed = edit(project, "monthly_revenue", "sum(revenue) as revenue",
                   "sum(revenue) as revenue,\n    sum(revenue) / sum(orders) as avg_order_value")
    prs = PullRequests(lh, Reporter(None, echo=printed.append, env={}))
    out = prs.sync(32, SHA, changed)
    assert out.status is Status.PASSED and out.changed_tables == ["analytics.monthly_revenue"]
    assert "avg_order_value" in printed[0] and "Revenue dashboard" in printed[0]
    # production moves on: new raw orders arrive and the nightly rebuilds every model on main
    load_demo_data(lh, 0.001, orders=(100_000, 100_050), append=True)
    dbt.build(lh, "main", project, dbt_output="stderr")
    orders_on_main = sum(lh.read("analytics.monthly_revenue").column("orders").to_pylist())
    assert prs.merge(32, SHA).status is Status.CONFLICT
    merged = prs.merge(32, SHA, on_conflict=OnConflict.REBUILD, project_dir=changed)
    assert merged.status is Status.MERGED, merged.reason
    table = lh.read("analytics.monthly_revenue")
    assert "avg_order_value" in table.column_names
    assert sum(table.column("orders").to_pylist()) == orders_on_main  # built on the new main's data
