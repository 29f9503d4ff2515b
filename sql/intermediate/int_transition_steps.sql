-- one row per scope and step between consecutive events; key: scope, customer_id, step_index
-- Journey scope follows a customer's events across sessions, from '(start)' to '(end)'; session
-- scope follows the events of one session, from '(start)' (session start) to '(end)' (session
-- end). step_index is the to-event's event_index, or the from-event's event_index + 0.5 for the
-- step into '(end)'. Each event already knows its neighbours (int_events_sessionised), so no
-- window runs here.
with

-- Not materialised: the four selects below each scan the columns they need, rather than DuckDB
-- buffering every event for them (at 100M events the buffer spilled and transitions took 54 s
-- against 22 s).
events as not materialized (
    select
        customer_id,
        session_id,
        touchpoint,
        event_index,
        previous_touchpoint,
        seconds_since_previous,
        is_session_start,
        is_session_end,
        is_journey_end
    from events
),

journey_steps as (
    select
        'journey' as scope,
        customer_id,
        session_id,
        event_index::double as step_index,
        coalesce(previous_touchpoint, '(start)') as from_touchpoint,
        touchpoint as to_touchpoint,
        seconds_since_previous as seconds_between
    from events
    union all
    select
        'journey' as scope,
        customer_id,
        session_id,
        event_index + 0.5 as step_index,
        touchpoint as from_touchpoint,
        '(end)' as to_touchpoint,
        null as seconds_between
    from events
    where is_journey_end
),

session_steps as (
    select
        'session' as scope,
        customer_id,
        session_id,
        event_index::double as step_index,
        case when is_session_start then '(start)' else previous_touchpoint end
            as from_touchpoint,
        touchpoint as to_touchpoint,
        case when not is_session_start then seconds_since_previous end as seconds_between
    from events
    union all
    select
        'session' as scope,
        customer_id,
        session_id,
        event_index + 0.5 as step_index,
        touchpoint as from_touchpoint,
        '(end)' as to_touchpoint,
        null as seconds_between
    from events
    where is_session_end
),

final as (
    select * from journey_steps
    union all
    select * from session_steps
)

select * from final
