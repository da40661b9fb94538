select
    payment_id,
    order_id,
    payment_method,
    cast(amount_cents * 0.01 as decimal(12, 2)) as amount
from {{ source('raw', 'payments') }}
