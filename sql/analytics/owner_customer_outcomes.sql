-- one row per customer; key: customer_id
-- Each customer's outcomes and activity stratum, for touchpoint_owners (cjm.journeys.owners):
-- converted (journeys), churned (customer_churn_state; a customer missing from it has not),
-- failed (any event at one of the configured failure outcomes) and the stratum of its number of
-- events, both from the temporary table insight_customer_strata (cjm.journeys.counts).
with

customer_strata as (
    select
        customer_id,
        failed,
        stratum
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
    from customer_churn_state
),

outcomes as (
    select
        journeys.customer_id,
        journeys.is_converted,
        coalesce(churn_state.is_churned, false) as is_churned,
        customer_strata.failed as is_failed,
        customer_strata.stratum
    from journeys
    inner join customer_strata on journeys.customer_id = customer_strata.customer_id
    left join churn_state on journeys.customer_id = churn_state.customer_id
)

select * from outcomes
