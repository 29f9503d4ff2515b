-- one row per group; key: group_id
-- Per group: customers, converted, customers with a known churn state, churned
-- (cjm.journeys.counts). Reads the view insight_journeys (journeys with each customer's group) and
-- the view insight_churn_state. An empty log gives no row.
with

journeys as (
    select
        group_id,
        customer_id,
        is_converted
    from insight_journeys
),

churn_state as (
    select
        customer_id,
        is_churned
    from insight_churn_state
),

outcomes as (
    select
        journeys.group_id,
        count(*) as customers,
        count(*) filter (where journeys.is_converted) as converted,
        count(churn_state.is_churned) as churn_known,
        count(*) filter (where churn_state.is_churned) as churned
    from journeys
    left join churn_state on journeys.customer_id = churn_state.customer_id
    group by journeys.group_id
)

select * from outcomes
