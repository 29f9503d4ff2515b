-- one row per customer; key: customer_id
-- Each customer's group, activity stratum and configured outcomes, for the activity-adjusted lifts
-- of touchpoint_insights (cjm.journeys.counts): customers who touch more touchpoints are the more
-- active ones, so lifts compare customers of similar activity. A customer with up to
-- cjm_stratum_exact events is a stratum of its own count, then bins cjm_stratum_step times wider
-- than the last. Succeeded / failed: any event at one of cjm_success_touchpoints /
-- cjm_failure_touchpoints. Reads the view insight_events (events with each customer's group).
with

events as (
    select
        group_id,
        customer_id,
        touchpoint
    from insight_events
),

customers as (
    select
        group_id,
        customer_id,
        count(*) as n_events,
        bool_or(list_contains(getvariable('cjm_success_touchpoints'), touchpoint)) as succeeded,
        bool_or(list_contains(getvariable('cjm_failure_touchpoints'), touchpoint)) as failed
    from events
    group by group_id, customer_id
),

strata as (
    select
        *,
        cast(
            case
                when n_events <= getvariable('cjm_stratum_exact') then n_events
                else
                    getvariable('cjm_stratum_exact')
                    + ceil(
                        ln(n_events / getvariable('cjm_stratum_exact'))
                        / ln(getvariable('cjm_stratum_step'))
                    )
            end as bigint
        ) as stratum
    from customers
)

select * from strata
