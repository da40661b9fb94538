"""Raw tables for the sample dbt project (``dbt_project/``), generated deterministically.

``demo-data --scale 1`` makes ~100k customers, 1M orders and ~1.2M payments. Rows come from
DuckDB's ``range()`` and integer scrambling (no random generator, no numpy): the same scale
always gives the same rows, so tests and benchmarks can compute expected results on their own.
Orders are numbered in date order, so loading them in id ranges (``orders=(start, stop)``)
models batches of late-arriving data for incremental models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb

from branchops.dbt.publish import write_relation
from branchops.engine.duckdb import load_iceberg

if TYPE_CHECKING:
    from branchops.lakehouse import Lakehouse

CUSTOMERS_PER_SCALE = 100_000
ORDERS_PER_SCALE = 1_000_000
START_DATE = "2023-01-01"
DAYS = 730
STATUSES = ("placed", "shipped", "completed", "return_pending", "returned")
METHODS = ("credit_card", "coupon", "bank_transfer", "gift_card")
FIRST_NAMES = ("Ada", "Bo", "Cai", "Dee", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea")
LAST_NAMES = ("Ng", "Ortiz", "Park", "Quinn", "Rossi", "Sato", "Tran", "Ueda", "Vega", "Weber")
COUNTRIES = ("US", "DE", "FR", "JP", "BR", "IN", "GB", "NL")


def _mix(expr: str, salt: int) -> str:
    """A deterministic scramble of a non-negative BIGINT expression into [0, 2^31)."""
    return f"((({expr}) * 2654435761 + {salt * 40503}) % 2147483647)"


def _pick(options: tuple[str, ...], expr: str, salt: int) -> str:
    values = ", ".join(f"'{o}'" for o in options)
    return f"([{values}])[1 + {_mix(expr, salt)} % {len(options)}]"


@dataclass(frozen=True)
class DemoSize:
    customers: int
    orders: int

    @classmethod
    def of(cls, scale: float) -> DemoSize:
        if scale <= 0:
            raise ValueError("scale must be positive")
        return cls(max(10, round(CUSTOMERS_PER_SCALE * scale)), max(100, round(ORDERS_PER_SCALE * scale)))


def customers_sql(size: DemoSize) -> str:
    i = "i"
    return f"""
        select
            {i} as customer_id,
            {_pick(FIRST_NAMES, i, 1)} as first_name,
            {_pick(LAST_NAMES, i, 2)} as last_name,
            'customer' || {i} || '@Example.com' as email,
            cast(date '{START_DATE}' - cast({_mix(i, 3)} % 365 as integer) as date) as signup_date,
            {_pick(COUNTRIES, i, 4)} as country
        from range(1, {size.customers + 1}) as r(i)
    """


def orders_sql(size: DemoSize, start: int = 1, stop: int | None = None) -> str:
    """Orders ``start <= order_id < stop``; order dates grow with the id."""
    stop = size.orders + 1 if stop is None else stop
    return f"""
        select
            i as order_id,
            1 + {_mix("i", 5)} % {size.customers} as customer_id,
            cast(date '{START_DATE}' + cast((i - 1) * {DAYS} // {size.orders} as integer) as date) as order_date,
            case
                when {_mix("i", 6)} % 100 < 50 then 'completed'
                when {_mix("i", 6)} % 100 < 70 then 'shipped'
                when {_mix("i", 6)} % 100 < 88 then 'placed'
                when {_mix("i", 6)} % 100 < 94 then 'return_pending'
                else 'returned'
            end as status
        from range({start}, {stop}) as r(i)
    """


def payments_sql(size: DemoSize, start: int = 1, stop: int | None = None) -> str:
    """One payment per order, a second one for about every fifth order (ids 2*order, 2*order+1)."""
    stop = size.orders + 1 if stop is None else stop
    return f"""
        select
            2 * i + k as payment_id,
            i as order_id,
            {_pick(METHODS, "2 * i + k", 7)} as payment_method,
            cast(100 + {_mix("2 * i + k", 8)} % 25000 as integer) as amount_cents
        from range({start}, {stop}) as r(i), range(0, 2) as s(k)
        where k = 0 or {_mix("i", 9)} % 5 = 0
    """


def demo_relations(scale: float, orders: tuple[int, int | None] | None = None) -> dict[str, str]:
    """``{"raw.<table>": select}`` for the demo tables (customers always whole)."""
    size = DemoSize.of(scale)
    start, stop = orders or (1, None)
    return {
        "raw.customers": customers_sql(size),
        "raw.orders": orders_sql(size, start, stop),
        "raw.payments": payments_sql(size, start, stop),
    }


def load_demo_data(
    lakehouse: Lakehouse,
    scale: float = 1.0,
    *,
    branch: str | None = None,
    orders: tuple[int, int | None] | None = None,
    append: bool = False,
    threads: int | None = None,
) -> dict[str, Any]:
    """Write the demo raw tables to ``branch`` (default main) in one commit.

    ``orders`` limits orders and payments to an order-id range; ``append`` adds them to the
    existing tables instead of replacing the tables (customers are then left alone).
    """
    branch = branch or lakehouse.main
    relations = demo_relations(scale, orders)
    if append:
        relations.pop("raw.customers")
    con = duckdb.connect()
    try:
        load_iceberg(con)
        if threads or lakehouse.settings.threads:
            con.execute(f"SET threads = {int(threads or lakehouse.settings.threads or 1)}")
        rows: dict[str, int] = {}
        message = f"demo-data scale {scale}" + (" (append)" if append else "")
        with lakehouse.writing(branch, message) as w:
            for table, sql in relations.items():
                rows[table] = write_relation(con, w, table, f"({sql})", mode="append" if append else "replace")
            w.properties.update({"branchops.operation": "demo-data", "branchops.demo.scale": str(scale)})
    finally:
        con.close()
    return {"branch": branch, "scale": scale, "rows": rows, "hash": w.result.hash if w.result else None}
