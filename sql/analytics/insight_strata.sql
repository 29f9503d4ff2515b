-- one row per group x activity stratum; key: group_id, stratum
-- Customers of each activity stratum and how many had each outcome (cjm.journeys.counts): the
-- totals the touched customers of a stratum are compared within. Reads the temporary table
-- insight_customer_strata and the view insight_churn_state.
with

customer_strata as (
    select
        group_id,
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

strata as (
    select
        customer_strata.group_id,
        customer_strata.stratum,
        count(*) as customers,
        count(*) filter (where journeys.is_converted) as converted,
        count(churn_state.is_churned) as churn_known,
        count(*) filter (where churn_state.is_churned) as churned,
        count(*) filter (where customer_strata.succeeded) as succeeded,
        count(*) filter (where customer_strata.failed) as failed
    from customer_strata
    left join journeys on customer_strata.customer_id = journeys.customer_id
    left join churn_state on customer_strata.customer_id = churn_state.customer_id
    group by customer_strata.group_id, customer_strata.stratum
)

select * from strata
