-- one row per touchpoint x resource; key: touchpoint, resource
-- The resource (team or person behind an event) is the source column named by `columns: resource`
-- in the config, kept in events.properties; its JSON path is the variable cjm_resource_path.
-- Events without a resource are left out, so a log without the column gives no rows. A customer
-- is handled by a resource at a touchpoint when any of its events there carries that resource.
-- Lifts compare those customers with the touchpoint's other customers (never handled there by
-- this resource): a rate ratio, NULL when the touchpoint has no other customers or their rate is
-- zero. Failure: any event at one of the configured failure outcomes (cjm_failure_touchpoints;
-- NULL columns when none is configured). Unlike touchpoint_insights, lifts are not adjusted for
-- activity: read them beside the touchpoint's own role.
with

events as (
    select
        customer_id,
        touchpoint,
        sentiment,
        nullif(
            trim(json_extract_string(properties, getvariable('cjm_resource_path'))), ''
        ) as resource
    from events
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

touchpoint_insights as (
    select
        touchpoint,
        role
    from touchpoint_insights
),

failed as (
    select distinct customer_id
    from events
    where list_contains(getvariable('cjm_failure_touchpoints'), touchpoint)
),

outcomes as (
    select
        journeys.customer_id,
        journeys.is_converted,
        coalesce(churn_state.is_churned, false) as is_churned,
        failed.customer_id is not null as is_failed
    from journeys
    left join churn_state on journeys.customer_id = churn_state.customer_id
    left join failed on journeys.customer_id = failed.customer_id
),

handled as (
    select
        touchpoint,
        resource,
        customer_id,
        count(*) as event_count,
        count(sentiment) as rated_events,
        -- exact: validated sentiment is finite and in [-1, 1], so a DECIMAL sum holds it and
        -- gives the same mean however threads split the rows
        sum(cast(sentiment as decimal(27, 12))) as sentiment_sum
    from events
    where resource is not null
    group by touchpoint, resource, customer_id
),

handled_outcomes as (
    select
        handled.*,
        outcomes.is_converted,
        outcomes.is_churned,
        outcomes.is_failed
    from handled
    inner join outcomes on handled.customer_id = outcomes.customer_id
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

touchpoint_customers as (
    select
        touchpoint,
        customer_id,
        count(*) as event_count
    from events
    group by touchpoint, customer_id
),

touchpoint_totals as (
    select
        touchpoint_customers.touchpoint,
        sum(touchpoint_customers.event_count) as event_count,
        count(*) as customer_count,
        count(*) filter (where outcomes.is_converted) as converted,
        count(*) filter (where outcomes.is_churned) as churned,
        count(*) filter (where outcomes.is_failed) as failed
    from touchpoint_customers
    inner join outcomes on touchpoint_customers.customer_id = outcomes.customer_id
    group by touchpoint_customers.touchpoint
),

others as (
    select
        owner_totals.*,
        owner_totals.event_count / touchpoint_totals.event_count as share_of_touchpoint_events,
        touchpoint_totals.customer_count - owner_totals.customer_count as other_customers,
        touchpoint_totals.converted - owner_totals.converted_customers as other_converted,
        touchpoint_totals.churned - owner_totals.churned_customers as other_churned,
        touchpoint_totals.failed - owner_totals.failed_customers as other_failed
    from owner_totals
    inner join touchpoint_totals on owner_totals.touchpoint = touchpoint_totals.touchpoint
),

final as (
    select
        others.touchpoint,
        others.resource,
        cast(others.event_count as bigint) as event_count,
        others.share_of_touchpoint_events,
        others.customer_count,
        others.converted_customers / others.customer_count as conversion_rate,
        others.converted_customers
        / others.customer_count
        / nullif(others.other_converted / nullif(others.other_customers, 0), 0) as conversion_lift,
        others.churned_customers / others.customer_count as churn_rate,
        (others.churned_customers / others.customer_count)
        / nullif(others.other_churned / nullif(others.other_customers, 0), 0) as churn_lift,
        case
            when len(getvariable('cjm_failure_touchpoints')) > 0
                then others.failed_customers / others.customer_count
        end as failure_rate,
        case
            when len(getvariable('cjm_failure_touchpoints')) > 0
                then
                    (others.failed_customers / others.customer_count)
                    / nullif(others.other_failed / nullif(others.other_customers, 0), 0)
        end as failure_lift,
        cast(others.rated_events as bigint) as rated_events,
        others.mean_sentiment,
        touchpoint_insights.role as touchpoint_role
    from others
    left join touchpoint_insights on others.touchpoint = touchpoint_insights.touchpoint
)

select * from final
