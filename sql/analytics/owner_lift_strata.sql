-- one row per touchpoint x resource x activity stratum; key: touchpoint, resource, stratum
-- The customers a resource handled at a touchpoint, by activity stratum, and how many of them had
-- each outcome, beside all of the touchpoint's customers of that stratum: the counts of the
-- activity-adjusted owner lifts (cjm.journeys.owners). Reads the temporary relations
-- owner_handled and owner_customer_outcomes.
with

handled as (
    select
        touchpoint,
        customer_id,
        resource
    from owner_handled
),

outcomes as (
    select
        customer_id,
        is_converted,
        is_churned,
        is_failed,
        stratum
    from owner_customer_outcomes
),

touchpoint_customers as (
    select distinct
        touchpoint,
        customer_id
    from handled
),

touchpoint_strata as (
    select
        touchpoint_customers.touchpoint,
        outcomes.stratum,
        count(*) as touchpoint_customers,
        count(*) filter (where outcomes.is_converted) as touchpoint_converted,
        count(*) filter (where outcomes.is_churned) as touchpoint_churned,
        count(*) filter (where outcomes.is_failed) as touchpoint_failed
    from touchpoint_customers
    inner join outcomes on touchpoint_customers.customer_id = outcomes.customer_id
    group by touchpoint_customers.touchpoint, outcomes.stratum
),

owner_strata as (
    select
        handled.touchpoint,
        handled.resource,
        outcomes.stratum,
        count(*) as customers,
        count(*) filter (where outcomes.is_converted) as converted,
        count(*) filter (where outcomes.is_churned) as churned,
        count(*) filter (where outcomes.is_failed) as failed
    from handled
    inner join outcomes on handled.customer_id = outcomes.customer_id
    where handled.resource is not null
    group by handled.touchpoint, handled.resource, outcomes.stratum
),

final as (
    select
        owner_strata.*,
        touchpoint_strata.touchpoint_customers,
        touchpoint_strata.touchpoint_converted,
        touchpoint_strata.touchpoint_churned,
        touchpoint_strata.touchpoint_failed
    from owner_strata
    inner join touchpoint_strata
        on
            owner_strata.touchpoint = touchpoint_strata.touchpoint
            and owner_strata.stratum = touchpoint_strata.stratum
)

select * from final
