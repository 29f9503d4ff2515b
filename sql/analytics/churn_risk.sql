-- one row per scored customer; key: customer_id
-- The churn list ranked riskiest first (ties: more revenue, then id) from the rows scored batch
-- by batch into _cjm_churn_scored (cjm.churn.batches); rank 1 is the first to call.
with

scored as (
    select * from _cjm_churn_scored
),

final as (
    select
        * exclude (reasons_computed),
        row_number() over (
            order by risk_score desc, revenue desc nulls last, customer_id asc
        ) as rank
    from scored
)

select * from final
