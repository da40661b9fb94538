"""Classification with and without dbt's compile (real dbt-core + dbt-duckdb) where the two
could differ. An unchanged reader's compiled SQL is the base's only when its file, its config
and its macros are what rendered it there: a project var (or an environment variable) it reads
can change with the PR and make it read other columns. A reader's ``select *`` over an
ephemeral model reads all its columns, whatever the CTE dbt inlines holds."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from branchops import dbt
from branchops.lakehouse import Lakehouse
from branchops.pr import PullRequests, Reporter, Status
from branchops.pr.dbt_step import DbtBuilder
from tests.shop import built_shop

SHA = "0123456789abcdef0123456789abcdef01234567"
SEGMENTS = "customer_segments.sql"

pytestmark = pytest.mark.slow


def _edit(project: Path, name: str, old: str, new: str) -> None:
    target = next(project.rglob(name))
    text = target.read_text()
    assert old in text
    target.write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lakehouse, Path]]:
    """main built from the sample project whose customer_segments also selects the column of
    customers that the project var ``since`` names (``first_order``), and with an ephemeral
    model over orders that a table selects ``*`` from."""
    root = tmp_path_factory.mktemp("stale")
    with built_shop(root) as (lh, project):
        _edit(project, SEGMENTS, "    lifetime_value,\n", "    lifetime_value,\n    {{ var('since') }} as since,\n")
        _edit(project, "dbt_project.yml", "models:\n", "vars:\n  since: first_order\nmodels:\n")
        marts = project / "models" / "marts"
        (marts / "eph_orders.sql").write_text("{{ config(materialized='ephemeral') }}\n"
                                              "select order_id, status, amount from {{ ref('orders') }}\n")
        (marts / "orders_wide.sql").write_text("select * from {{ ref('eph_orders') }}\n")
        dbt.build(lh, "main", project, dbt_output="stderr")
        yield lh, project


def test_a_var_the_unchanged_reader_reads_changes_with_the_pr(
        shop: tuple[Lakehouse, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The PR points ``since`` at ``most_recent_order`` and changes that column of customers:
    customer_segments (unchanged file, not state:modified) now reads it, so the change is
    breaking and customer_segments is rebuilt (hand-read: dbt compiles it to ``most_recent_order as since``)."""
    lh, project = shop
    changed = project.parent / f"{project.name}-since"
    shutil.copytree(project, changed)
    _edit(changed, "dbt_project.yml", "since: first_order", "since: most_recent_order")
    _edit(changed, "customers.sql", "max(order_date) as most_recent_order", "min(order_date) as most_recent_order")
    quick, compiled = _both_ways(lh, changed, 70, monkeypatch)
    assert quick.status is Status.PASSED and compiled.status is Status.PASSED, (quick.reason, compiled.reason)
    for out in (compiled, quick):
        [m] = out.build["lineage"]["models"]
        assert m["kind"] == "breaking", (out.build["lineage"]["compiled_by"], m)
        assert [(r["name"], r["columns"]) for r in m["readers"]] == [("customer_segments", ["most_recent_order"])]
        assert sorted(out.build["built"]) == ["analytics.customer_segments", "analytics.customers"]
    assert compiled.build["lineage"]["compiled_by"] == "dbt"


def test_a_column_removed_from_an_ephemeral_model_breaks_a_select_star_reader(
        shop: tuple[Lakehouse, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """orders_wide is ``select * from {{ ref('eph_orders') }}``: without ``amount`` in eph_orders
    its table loses that column, so the change is breaking and orders_wide is rebuilt (hand-read)."""
    lh, project = shop
    changed = project.parent / f"{project.name}-eph"
    shutil.copytree(project, changed)
    _edit(changed, "eph_orders.sql", "status, amount from", "status from")
    for out in reversed(_both_ways(lh, changed, 72, monkeypatch)):
        [m] = out.build["lineage"]["models"]
        assert (m["kind"], m["removed"]) == ("breaking", ["amount"]), (out.build["lineage"]["compiled_by"], m)
        assert [(r["name"], r["columns"]) for r in m["readers"]] == [("orders_wide", ["*"])]
        assert out.build["built"] == ["analytics.orders_wide"]


def _both_ways(lh: Lakehouse, changed: Path, number: int, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """``pr sync`` of ``changed`` as PR ``number`` classified without dbt's compile (when it can),
    then as PR ``number + 1`` with it."""
    import branchops.lineage.select as select

    outs = []
    for pr in (number, number + 1):
        prs = PullRequests(lh, Reporter(None, echo=lambda _: None, env={}), builder=DbtBuilder())
        outs.append(prs.sync(pr, SHA, changed))
        monkeypatch.setattr(select, "compiled_head", lambda *args: None)  # the second: dbt's compile
    for out in outs:
        assert out.status is Status.PASSED, out.reason
    assert outs[1].build["lineage"]["compiled_by"] == "dbt"
    return outs
