-- one row per customer to score; key: customer_id
-- The customers churn_risk lists (cjm.churn.batches): every customer of scoped_events, the events
-- of the customers in scope (cjm.churn.queries).
with

events as (
    select * from scoped_events
),

final as (
    select distinct customer_id from events
)

select * from final
