select
    customer_id,
    first_name,
    last_name,
    {{ dbt.concat(["first_name", "' '", "last_name"]) }} as full_name,
    lower(email) as email,
    signup_date,
    country
from {{ source('raw', 'customers') }}
