-- one row per touchpoint x resource; key: touchpoint, resource
-- The resource (team or person behind an event) is the source column named by `columns: resource`
-- in the config, kept in events.properties (cjm.journeys.owners reads it into owner_handled).
-- Events without a resource are left out, so a log without the column gives no rows. A customer
-- is handled by a resource at a touchpoint when any of its events there carries that resource.
-- Lifts compare those customers with the touchpoint's other customers (never handled there by
-- this resource) of similar activity, as touchpoint_insights' adjusted lifts do: the
-- Mantel-Haenszel risk ratio over activity strata, computed by cjm.journeys.owners into
-- owner_lifts (NULL when no stratum has other customers, or none of them has the outcome).
-- Failure: any event at one of the configured failure outcomes (cjm_failure_touchpoints; NULL
-- columns when none is configured).
with

handled as (
    select
        touchpoint,
        customer_id,
        resource,
        event_count,
        rated_events,
        sentiment_sum
    from owner_handled
),

outcomes as (
    select
        customer_id,
        is_converted,
        is_churned,
        is_failed
    from owner_customer_outcomes
),

lifts as (
    select
        touchpoint,
        resource,
        conversion_lift,
        churn_lift,
        failure_lift
    from owner_lifts
),

touchpoint_insights as (
    select
        touchpoint,
        role
    from touchpoint_insights
),

handled_outcomes as (
    select
        handled.*,
        outcomes.is_converted,
        outcomes.is_churned,
        outcomes.is_failed
    from handled
    inner join outcomes on handled.customer_id = outcomes.customer_id
    where handled.resource is not null
),

owner_totals as (
    select
        touchpoint,
        resource,
        sum(event_count) as event_count,
        count(*) as customer_count,
        count(*) filter (where is_converted) as converted_customers,
        count(*) filter (where is_churned) as churned_customers,
        count(*) filter (where is_failed) as failed_customers,
        sum(rated_events) as rated_events,
        cast(sum(sentiment_sum) as double) / nullif(sum(rated_events), 0) as mean_sentiment
    from handled_outcomes
    group by touchpoint, resource
),

touchpoint_totals as (
    select
        handled.touchpoint,
        sum(handled.event_count) as event_count
    from handled
    inner join outcomes on handled.customer_id = outcomes.customer_id
    group by handled.touchpoint
),

final as (
    select
        owner_totals.touchpoint,
        owner_totals.resource,
        cast(owner_totals.event_count as bigint) as event_count,
        owner_totals.event_count / touchpoint_totals.event_count as share_of_touchpoint_events,
        owner_totals.customer_count,
        owner_totals.converted_customers / owner_totals.customer_count as conversion_rate,
        lifts.conversion_lift,
        owner_totals.churned_customers / owner_totals.customer_count as churn_rate,
        lifts.churn_lift,
        case
            when len(getvariable('cjm_failure_touchpoints')) > 0
                then owner_totals.failed_customers / owner_totals.customer_count
        end as failure_rate,
        case
            when len(getvariable('cjm_failure_touchpoints')) > 0 then lifts.failure_lift
        end as failure_lift,
        cast(owner_totals.rated_events as bigint) as rated_events,
        owner_totals.mean_sentiment,
        touchpoint_insights.role as touchpoint_role
    from owner_totals
    inner join touchpoint_totals on owner_totals.touchpoint = touchpoint_totals.touchpoint
    left join lifts
        on
            owner_totals.touchpoint = lifts.touchpoint
            and owner_totals.resource = lifts.resource
    left join touchpoint_insights on owner_totals.touchpoint = touchpoint_insights.touchpoint
)

select * from final
