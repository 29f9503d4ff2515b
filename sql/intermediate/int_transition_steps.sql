-- one row per scope and step between consecutive events; key: scope, customer_id, step_index
-- Journey scope follows a customer's events across sessions, from '(start)' to '(end)'; session
-- scope follows the events of one session, from '(start)' (session start) to '(end)' (session
-- end). step_index is the to-event's event_index, or the from-event's event_index + 0.5 for the
-- step into '(end)'. One window pass serves both scopes.
with

events as (
    select
        customer_id,
        session_id,
        touchpoint,
        event_time,
        event_index
    from events
),

neighbours as (
    select
        customer_id,
        session_id,
        touchpoint,
        event_index,
        lag(touchpoint) over journey_order as previous_touchpoint,
        lag(session_id) over journey_order as previous_session_id,
        lead(session_id) over journey_order as next_session_id,
        epoch(event_time) - epoch(lag(event_time) over journey_order) as seconds_since_previous
    from events
    window journey_order as (partition by customer_id order by event_index)
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
    from neighbours
    union all
    select
        'journey' as scope,
        customer_id,
        session_id,
        event_index + 0.5 as step_index,
        touchpoint as from_touchpoint,
        '(end)' as to_touchpoint,
        null as seconds_between
    from neighbours
    where next_session_id is null
),

session_steps as (
    select
        'session' as scope,
        customer_id,
        session_id,
        event_index::double as step_index,
        case
            when previous_session_id = session_id then previous_touchpoint else '(start)'
        end as from_touchpoint,
        touchpoint as to_touchpoint,
        case
            when previous_session_id = session_id then seconds_since_previous
        end as seconds_between
    from neighbours
    union all
    select
        'session' as scope,
        customer_id,
        session_id,
        event_index + 0.5 as step_index,
        touchpoint as from_touchpoint,
        '(end)' as to_touchpoint,
        null as seconds_between
    from neighbours
    where next_session_id is distinct from session_id
),

final as (
    select * from journey_steps
    union all
    select * from session_steps
)

select * from final
