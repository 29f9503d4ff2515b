-- one row per customer with events at or before cjm_churn_as_of; key: customer_id
-- The BG/NBD inputs (cjm.churn.bgnbd) from active UTC days: x repeat active days, t_x days from
-- the first active day to the last, T days from the first active day to the cutoff. Reads
-- scoped_events: the events of the customers in scope (cjm.churn.queries).
with

events as (
    select
        customer_id,
        event_time
    from scoped_events
    where event_time <= getvariable('cjm_churn_as_of')
),

active_days as (
    select distinct
        customer_id,
        date_trunc('day', event_time at time zone 'UTC') as active_day
    from events
),

final as (
    select
        customer_id,
        count(*) - 1 as x,
        date_diff('day', min(active_day), max(active_day)) as t_x,
        -- "T" as in the BG/NBD paper
        epoch(getvariable('cjm_churn_as_of') - (min(active_day) at time zone 'UTC'))
        / 86400.0 as "T"  -- noqa: RF06
    from active_days
    group by customer_id
)

select * from final
