{{ config(materialized='incremental', unique_key='order_date', incremental_strategy='delete+insert') }}
{#- Late orders can only land on the newest day loaded so far, so each run re-aggregates that
    day and everything after it; delete+insert on order_date replaces those days. -#}

select
    order_date,
    count(*) as orders,
    sum(amount) as revenue
from {{ ref('orders') }}
where status <> 'returned'
{% if is_incremental() %}
    and order_date >= (select max(order_date) from {{ this }})
{% endif %}
group by order_date
