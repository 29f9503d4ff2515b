-- one row per group x touchpoint x activity stratum; key: group_id, touchpoint, stratum
-- Customers who touched each touchpoint, by activity stratum, and how many of them had each
-- outcome (cjm.journeys.counts). Reads the view insight_events, the temporary table
-- insight_customer_strata and the view insight_churn_state (customer_id, is_churned; empty when
-- churn is unknown, so the churn counts are 0).
with

events as (
    select
        group_id,
        customer_id,
        touchpoint
    from insight_events
),

customer_strata as (
    select
        customer_id,
        stratum,
        succeeded,
        failed
    from insight_customer_strata
),

journeys as (
    select
        customer_id,
        is_converted
    from journeys
),

churn_state as (
    select
        customer_id,
        is_churned
    from insight_churn_state
),

pairs as (
    select distinct
        group_id,
        customer_id,
        touchpoint
    from events
),

reach as (
    select
        pairs.group_id,
        pairs.touchpoint,
        customer_strata.stratum,
        count(*) as reach,
        count(*) filter (where journeys.is_converted) as converted_with,
        count(churn_state.is_churned) as churn_known_with,
        count(*) filter (where churn_state.is_churned) as churned_with,
        count(*) filter (where customer_strata.succeeded) as succeeded_with,
        count(*) filter (where customer_strata.failed) as failed_with
    from pairs
    inner join customer_strata on pairs.customer_id = customer_strata.customer_id
    left join journeys on pairs.customer_id = journeys.customer_id
    left join churn_state on pairs.customer_id = churn_state.customer_id
    group by pairs.group_id, pairs.touchpoint, customer_strata.stratum
)

select * from reach
