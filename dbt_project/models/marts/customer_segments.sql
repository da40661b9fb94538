{#- A view on DuckDB to show that views work (branchops publishes a view's rows as an Iceberg
    table); a table elsewhere, since Trino on Iceberg/Nessie has no views. -#}
{{ config(materialized=('view' if target.type == 'duckdb' else 'table')) }}

select
    customer_id,
    number_of_orders,
    lifetime_value,
    case
        when lifetime_value >= 1000 then 'gold'
        when lifetime_value >= 300 then 'silver'
        when number_of_orders > 0 then 'bronze'
        else 'prospect'
    end as segment
from {{ ref('customers') }}
