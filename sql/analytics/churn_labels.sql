-- one row per customer seen by the cutoff; key: customer_id
-- The label of each customer at a cutoff (cjm.churn.definition.churn_labels) from their churn
-- state at the cutoff (the table named cjm_churn_state_before) and a horizon later (the table
-- cjm_churn_state_after): churned when they show no activity after the cutoff, or have left
-- through an exit touchpoint by the end of the horizon.
with

before_cutoff as (
    select * from query_table(getvariable('cjm_churn_state_before'))
),

after_horizon as (
    select * from query_table(getvariable('cjm_churn_state_after'))
),

final as (
    select
        before_cutoff.customer_id,
        after_horizon.last_seen_at <= getvariable('cjm_churn_as_of')
        or coalesce(after_horizon.churn_reason = 'exit_touchpoint', false) as churned,
        case
            when before_cutoff.churn_reason = 'exit_touchpoint' then 'exited'
            when before_cutoff.is_churned then 'lapsed'
            else 'active'
        end as customer_state
    from before_cutoff
    inner join after_horizon on before_cutoff.customer_id = after_horizon.customer_id
)

select * from final
