"""Incremental models over two ingests equal a full rebuild; append publishes only new files."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from dbt_helpers import SCALE, new_lakehouse

from branchops.dbt import build
from branchops.demo import load_demo_data

APPEND_MODEL = """
{{ config(materialized='incremental', incremental_strategy='append') }}
select order_id, customer_id, order_date, amount from {{ ref('orders') }}
{% if is_incremental() %} where order_id > (select max(order_id) from {{ this }}) {% endif %}
"""
MERGE_MODEL = """
{{ config(materialized='incremental', incremental_strategy='merge', unique_key='customer_id') }}
select customer_id, count(*) as orders, max(order_date) as last_order from {{ ref('orders') }}
{% if is_incremental() %}
where customer_id in (select customer_id from {{ ref('orders') }}
                      where order_date >= (select max(last_order) from {{ this }}))
{% endif %}
group by customer_id
"""


def data_files(lh: object, table: str) -> set[str]:
    tbl = lh.catalog.load_table("main", table)  # type: ignore[attr-defined]
    return {t.file.file_path for t in tbl.scan().plan_files()}


@pytest.mark.parametrize("split", [3001])
def test_two_ingests_equal_a_full_rebuild(tmp_path: Path, project: Path, split: int) -> None:
    (project / "models" / "marts" / "orders_append.sql").write_text(APPEND_MODEL)
    (project / "models" / "marts" / "customer_orders_merge.sql").write_text(MERGE_MODEL)
    lh = new_lakehouse(tmp_path / "lh")
    load_demo_data(lh, SCALE, orders=(1, split))
    first = build(lh, "main", project, dbt_output="stderr")
    assert lh.read("analytics.orders_append").num_rows == split - 1
    files_before = data_files(lh, "analytics.orders_append")

    load_demo_data(lh, SCALE, orders=(split, None), append=True)  # later orders, some on the same day
    second = build(lh, "main", project, dbt_output="stderr")
    assert second.hash != first.hash

    con = duckdb.connect()
    for name in ("orders", "fct_daily_revenue", "orders_append", "customer_orders_merge"):
        con.register(name, lh.read(f"analytics.{name}"))
    con.register("raw_orders", lh.read("raw.orders"))
    assert con.execute("select count(*) from raw_orders").fetchone() == (5000,)
    # the full-rebuild answer, computed directly from the (fully rebuilt) orders table
    full_daily = con.execute("""select order_date, count(*), sum(amount) from orders where status <> 'returned'
                                group by 1 order by 1""").fetchall()
    assert con.execute("select * from fct_daily_revenue order by 1").fetchall() == full_daily
    assert con.execute("select * from orders_append order by 1").fetchall() == con.execute(
        "select order_id, customer_id, order_date, amount from orders order by 1").fetchall()
    assert con.execute("select * from customer_orders_merge order by 1").fetchall() == con.execute(
        "select customer_id, count(*), max(order_date) from orders group by 1 order by 1").fetchall()
    # append published only the new rows: the first build's files are still the table's
    assert files_before < data_files(lh, "analytics.orders_append")
    lh.close()
