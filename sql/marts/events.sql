-- one row per accepted event; key: event_id
with

events as (
    select * from int_events_sessionised
),

touchpoint_stages as (
    select * from cfg_touchpoint_stages
),

final as (
    select
        events.event_id,
        events.customer_id,
        events.anonymous_id,
        events.event_time,
        events.touchpoint,
        events.channel,
        touchpoint_stages.stage,
        events.session_id,
        events.event_index,
        events.session_index,
        events.is_session_start,
        events.is_session_end,
        events.is_journey_end,
        events.previous_touchpoint,
        events.seconds_since_previous,
        events.revenue,
        events.sentiment,
        coalesce(touchpoint_stages.is_conversion_touchpoint, false)
        or coalesce(events.revenue > 0, false) as is_conversion,
        events.is_stitched,
        events.is_anonymous,
        events.source_file,
        events.source_row,
        events.properties
    from events
    left join touchpoint_stages on events.touchpoint = touchpoint_stages.touchpoint
)

select * from final
