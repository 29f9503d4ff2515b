-- one row per customer seen by the time cjm_churn_as_of; key: customer_id
-- The churn state at the time (cjm.churn.definition): exited when the latest event of an
-- exit touchpoint (cjm_churn_exits) is not followed by an event in another session, lapsed when
-- the last event is at least cjm_churn_inactivity_days old. Reads scoped_events: the events of
-- the customers in scope (cjm.churn.queries).
with

events as not materialized (
    -- not materialised: both readers scan the events again rather than DuckDB buffering every
    -- event for them (0.25 s -> 0.18 s at 10M events)
    select
        customer_id,
        event_time,
        session_id,
        coalesce(
            list_contains(getvariable('cjm_churn_exits')::varchar[], touchpoint), false
        ) as is_exit
    from scoped_events
    where event_time <= getvariable('cjm_churn_as_of')
),

last_contact as (
    select
        customer_id,
        max(event_time) as last_seen_at,
        max(event_time) filter (where is_exit) as last_exit,
        arg_max(session_id, event_time) filter (where is_exit) as exit_session
    from events
    group by customer_id
),

returns as (
    -- events later in the same session as the exit (a survey, a goodbye page) are not a return
    select
        last_contact.customer_id,
        bool_or(
            events.event_time > last_contact.last_exit
            and events.session_id is distinct from last_contact.exit_session
        ) as returned
    from last_contact
    inner join events on last_contact.customer_id = events.customer_id
    where last_contact.last_exit is not null
    group by last_contact.customer_id
),

flagged as (
    select
        last_contact.*,
        last_contact.last_exit is not null
        and not coalesce(returns.returned, false) as exited,
        last_contact.last_seen_at
        + to_days(getvariable('cjm_churn_inactivity_days')) <= getvariable('cjm_churn_as_of')
            as inactive
    from last_contact
    left join returns on last_contact.customer_id = returns.customer_id
),

final as (
    select
        customer_id,
        last_seen_at,
        exited or inactive as is_churned,
        case
            when exited then last_exit
            when inactive then last_seen_at + to_days(getvariable('cjm_churn_inactivity_days'))
        end as churned_at,
        case
            when exited then 'exit_touchpoint'
            when inactive then 'inactivity'
        end as churn_reason
    from flagged
)

select * from final
