-- one row per inactivity threshold of cjm_churn_grid with a spell to follow; key: d
-- The automatic inactivity threshold's counts (cjm.churn.definition): for each threshold d days,
-- the quiet spells that reached d days and can be followed greatest(d, horizon) days more before
-- cjm_churn_as_of (open spells at the end included), and how many of them ended with a return.
-- A returned spell is read from its session's first event (seconds_since_previous: the time since
-- the previous session ended), so no sessions are rebuilt from events.
with

events as (
    select
        customer_id,
        event_time,
        is_session_start,
        seconds_since_previous
    from events
    where event_time <= getvariable('cjm_churn_as_of')
),

returned as (
    select
        event_time
        - to_microseconds(round(seconds_since_previous * 1e6)::bigint) as quiet_from,
        seconds_since_previous / 86400.0 as days,
        true as came_back
    from events
    where is_session_start and seconds_since_previous is not null
),

still_open as (
    select
        max(event_time) as quiet_from,
        epoch(getvariable('cjm_churn_as_of') - max(event_time)) / 86400.0 as days,
        false as came_back
    from events
    group by customer_id
),

spells as (
    select * from returned
    union all
    select * from still_open
),

thresholds as (
    select
        d,
        greatest(d, getvariable('cjm_churn_horizon_days')) as f
    from (select unnest(getvariable('cjm_churn_grid')::integer[]) as d) as grid
),

followed as (
    select
        thresholds.d,
        spells.came_back and spells.days <= thresholds.d + thresholds.f as back
    from thresholds
    inner join spells
        on
            thresholds.d <= spells.days
            and spells.quiet_from + to_days(thresholds.d + thresholds.f)
            <= getvariable('cjm_churn_as_of')
),

final as (
    select
        d,
        count(*) as spells,
        count(*) filter (where back) as back
    from followed
    group by d
)

select * from final
