"""dbt on a branch: outputs published in one commit, checked against DuckDB on the raw data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from dbt_helpers import PROJECT

from branchops.dbt import MANIFEST_PROPERTY, RUN_RESULTS_PROPERTY, DbtRunFailed, DbtRunResult, build, find_build
from branchops.lakehouse import Lakehouse

MODELS = ["customer_segments", "customers", "fct_daily_revenue", "monthly_revenue", "orders",
          "stg_customers", "stg_orders", "stg_payments"]


def rows(lh: Lakehouse, table: str, ref: str = "main", order: str = "") -> list[tuple[Any, ...]]:
    con = duckdb.connect()
    con.register("t", lh.read(table, ref))
    out = con.execute(f"select * from t order by {order or 1}").fetchall()
    con.close()
    return out


def raw_db(lh: Lakehouse) -> duckdb.DuckDBPyConnection:
    """The raw tables as plain Arrow in a fresh DuckDB: nothing of branchops' dbt path involved."""
    con = duckdb.connect()
    for name in ("customers", "orders", "payments"):
        con.register(name, lh.read(f"raw.{name}"))
    return con


def test_build_publishes_every_model_in_one_commit(main_build: tuple[Lakehouse, DbtRunResult]) -> None:
    lh, result = main_build
    assert result.success
    assert result.built == sorted([f"analytics.{m}" for m in MODELS] + ["analytics.payment_methods"])
    tables = lh.catalog.tables("main")
    assert "analytics.int_order_payments" not in tables  # ephemeral: nothing published
    assert "analytics.customer_segments" in tables  # a view, published as a table
    head = lh.catalog.log("main", limit=1)[0]
    assert head.hash == result.hash
    assert {c.table for c in head.changes} == set(result.built)  # one commit holds them all
    assert result.tests()["pass"] == 20 and result.tests()["fail"] == 0


def test_artifacts_are_stored_and_named_in_the_commit(main_build: tuple[Lakehouse, DbtRunResult]) -> None:
    lh, result = main_build
    props = lh.catalog.log("main", limit=1)[0].properties
    assert props[MANIFEST_PROPERTY] == result.manifest
    manifest = json.loads(Path(props[MANIFEST_PROPERTY]).read_text())
    assert "model.branchops_shop.orders" in manifest["nodes"]
    run_results = json.loads(Path(props[RUN_RESULTS_PROPERTY]).read_text())
    assert run_results["metadata"]["invocation_id"] == result.invocation_id
    stored = find_build(lh.catalog, "main")
    assert stored is not None and stored.commit == result.hash


def test_exposure_is_reported_downstream(main_build: tuple[Lakehouse, DbtRunResult]) -> None:
    _, result = main_build
    [dash] = result.exposures
    assert (dash.name, dash.type, dash.affected) == ("revenue_dashboard", "dashboard", True)
    assert set(dash.depends_on) == {"monthly_revenue", "customer_segments"}


def test_orders_match_duckdb_on_raw_data(main_build: tuple[Lakehouse, DbtRunResult]) -> None:
    lh, _ = main_build
    con = raw_db(lh)
    expected = con.execute("""
        select o.order_id, o.customer_id, o.order_date, o.status,
               coalesce(sum(p.amount_cents) filter (where p.payment_method = 'credit_card'), 0) / 100.0,
               coalesce(sum(p.amount_cents) filter (where p.payment_method = 'coupon'), 0) / 100.0,
               coalesce(sum(p.amount_cents) filter (where p.payment_method = 'bank_transfer'), 0) / 100.0,
               coalesce(sum(p.amount_cents) filter (where p.payment_method = 'gift_card'), 0) / 100.0,
               coalesce(sum(p.amount_cents), 0) / 100.0
        from orders o left join payments p using (order_id)
        group by all order by 1
    """).fetchall()
    got = [(*r[:4], *(float(v) for v in r[4:])) for r in rows(lh, "analytics.orders")]
    assert len(got) == 5000
    assert got == expected


def test_customers_and_daily_revenue_match_duckdb_on_raw_data(main_build: tuple[Lakehouse, DbtRunResult]) -> None:
    lh, _ = main_build
    con = raw_db(lh)
    con.execute("""
        create table order_amounts as
        select o.*, (select coalesce(sum(amount_cents), 0) from payments p where p.order_id = o.order_id) as cents
        from orders o
    """)
    expected_customers = con.execute("""
        select c.customer_id, c.first_name || ' ' || c.last_name, c.country,
               min(o.order_date), max(o.order_date), count(o.order_id), coalesce(sum(o.cents), 0) / 100.0
        from customers c left join order_amounts o on o.customer_id = c.customer_id and o.status <> 'returned'
        group by all order by 1
    """).fetchall()
    got = [(*r[:6], float(r[6])) for r in rows(lh, "analytics.customers")]
    assert got == expected_customers
    expected_daily = con.execute("""
        select order_date, count(*), sum(cents) / 100.0 from order_amounts where status <> 'returned'
        group by 1 order by 1
    """).fetchall()
    assert [(d, n, float(r)) for d, n, r in rows(lh, "analytics.fct_daily_revenue")] == expected_daily
    segments = dict(con.execute("""
        select case when v >= 1000 then 'gold' when v >= 300 then 'silver' when n > 0 then 'bronze'
                    else 'prospect' end, count(*)
        from (select c.customer_id, count(o.order_id) n, coalesce(sum(o.cents), 0) / 100.0 v
              from customers c left join order_amounts o on o.customer_id = c.customer_id and o.status <> 'returned'
              group by 1)
        group by 1
    """).fetchall())
    got_segments: dict[str, int] = {}
    for r in lh.read("analytics.customer_segments").column("segment").to_pylist():
        got_segments[r] = got_segments.get(r, 0) + 1
    assert got_segments == segments


def test_build_on_a_branch_leaves_main_untouched(main_build: tuple[Lakehouse, DbtRunResult], project: Path) -> None:
    lh, _ = main_build
    before = lh.catalog.get_ref("main").hash, lh.catalog.tables("main")
    lh.catalog.create_branch("untouched", "main")
    sql = project / "models" / "marts" / "monthly_revenue.sql"
    sql.write_text(sql.read_text().replace("sum(orders) as orders", "sum(orders) * 2 as orders"))
    result = build(lh, "untouched", project, select=["monthly_revenue"], dbt_output="stderr")
    assert result.built == ["analytics.monthly_revenue"]
    assert (lh.catalog.get_ref("main").hash, lh.catalog.tables("main")) == before
    doubled = {r[0]: r[1] for r in rows(lh, "analytics.monthly_revenue", "untouched")}  # month -> orders
    original = {r[0]: r[1] for r in rows(lh, "analytics.monthly_revenue")}
    assert {k: v // 2 for k, v in doubled.items()} == original


def _failing_test(project: Path) -> None:
    (project / "tests").mkdir(exist_ok=True)
    (project / "tests" / "no_big_orders.sql").write_text(
        "select * from {{ ref('orders') }} where amount > 10"  # plenty of orders are bigger
    )


def test_failing_test_publishes_nothing_even_on_main(
    main_build: tuple[Lakehouse, DbtRunResult], project: Path
) -> None:
    lh, _ = main_build
    _failing_test(project)
    before = lh.catalog.get_ref("main").hash
    with pytest.raises(DbtRunFailed) as exc:
        build(lh, "main", project, dbt_output="stderr")
    assert "no_big_orders" in exc.value.message
    assert exc.value.exit_code == 1
    assert exc.value.result.success is False
    assert lh.catalog.get_ref("main").hash == before
    assert not [r for r in lh.catalog.list_refs(include_internal=True) if r.name.startswith("branchops-wap-")]


def test_failing_model_publishes_nothing(main_build: tuple[Lakehouse, DbtRunResult], project: Path) -> None:
    lh, _ = main_build
    lh.catalog.create_branch("broken", "main")
    (project / "models" / "marts" / "broken.sql").write_text("select no_such_column from {{ ref('orders') }}")
    before = lh.catalog.get_ref("broken").hash
    with pytest.raises(DbtRunFailed) as exc:
        build(lh, "broken", project, dbt_output="stderr")
    assert "broken" in exc.value.message and "no_such_column" in exc.value.message
    assert [n.name for n in exc.value.result.failures] == ["broken"]
    assert lh.catalog.get_ref("broken").hash == before


def test_publish_keeps_column_types(main_build: tuple[Lakehouse, DbtRunResult]) -> None:
    lh, _ = main_build
    schema = lh.read("analytics.orders").schema
    assert schema.field("order_date").type == pa.date32()
    assert pa.types.is_decimal(schema.field("amount").type)
    assert lh.read("analytics.payment_methods").schema.field("is_cash_like").type == pa.bool_()


def test_sample_project_is_the_one_tested() -> None:
    assert (PROJECT / "dbt_project.yml").is_file()
