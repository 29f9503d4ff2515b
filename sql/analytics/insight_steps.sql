-- one row per group x previous touchpoint x touchpoint; key: group_id, previous, touchpoint
-- The steps of touchpoint_insights (cjm.journeys.counts): events per step with their sentiment,
-- session and journey ends, and journey ends of converted customers, for the chain and the
-- per-touchpoint metrics. Reads the view insight_events (events with each customer's group,
-- group_id NULL when the log is analysed whole). A group holds whole customers, so the
-- per-customer window is the same with or without groups. Sessions are runs of consecutive events
-- of a customer, so an event ends its session when the customer's next event is in another
-- session or there is none; this avoids a second sort. Ordered: the per-touchpoint sums in pandas
-- then add in the same order in every build.
with

events as (
    select
        group_id,
        customer_id,
        event_index,
        session_id,
        touchpoint,
        sentiment,
        is_conversion
    from insight_events
),

journeys as (
    select
        customer_id,
        is_converted
    from journeys
),

neighbours as (
    select
        *,
        lag(touchpoint) over customer_events as previous_touchpoint,
        lead(session_id) over customer_events as next_session_id,
        lead(event_index) over customer_events as next_event_index
    from events
    window customer_events as (partition by customer_id order by event_index)
),

steps as (
    select
        group_id,
        customer_id,
        touchpoint,
        sentiment,
        is_conversion,
        previous_touchpoint,
        coalesce(next_session_id != session_id, true) as ends_session,
        next_event_index is null as ends_journey
    from neighbours
),

step_counts as (
    select
        steps.group_id,
        steps.previous_touchpoint as previous,
        steps.touchpoint,
        count(*) as n,
        -- exact: validated sentiment is finite and in [-1, 1], so a DECIMAL sum holds it and
        -- gives the same sums however threads split the rows
        coalesce(cast(sum(cast(steps.sentiment as decimal(27, 12))) as double), 0) as sentiment_sum,
        count(steps.sentiment) as sentiment_n,
        coalesce(
            cast(sum(cast(steps.sentiment * steps.sentiment as decimal(27, 12))) as double), 0
        ) as sentiment_sq,
        count(*) filter (where steps.ends_session) as session_ends,
        count(*) filter (where steps.ends_journey) as journey_ends,
        count(*) filter (where steps.ends_journey and journeys.is_converted) as to_conversion,
        bool_or(coalesce(steps.is_conversion, false)) as is_conversion
    from steps
    left join journeys on steps.customer_id = journeys.customer_id
    group by steps.group_id, steps.previous_touchpoint, steps.touchpoint
)

select * from step_counts
order by all
