{{ config(materialized='ephemeral') }}
{#- ephemeral on purpose: inlined as a CTE into its consumers, never published -#}
{%- set methods = ['credit_card', 'coupon', 'bank_transfer', 'gift_card'] %}

select
    order_id,
    {%- for method in methods %}
    sum(case when payment_method = '{{ method }}' then amount else 0 end) as {{ method }}_amount,
    {%- endfor %}
    sum(amount) as amount,
    count(*) as payments
from {{ ref('stg_payments') }}
group by order_id
