select
    {{ dbt.date_trunc('month', 'order_date') }} as order_month,
    sum(orders) as orders,
    sum(revenue) as revenue
from {{ ref('fct_daily_revenue') }}
group by {{ dbt.date_trunc('month', 'order_date') }}
