-- one row per scope, segment, from and to touchpoint;
-- key: scope, segment, from_touchpoint, to_touchpoint
-- Journey scope: consecutive events of one customer across sessions, from a '(start)' node to an
-- '(end)' node. probability is the share of transitions out of from_touchpoint.
with

events as (
    select
        customer_id,
        touchpoint,
        event_time,
        event_index
    from events
),

neighbours as (
    select
        customer_id,
        touchpoint,
        lag(touchpoint) over journey_order as previous_touchpoint,
        lead(touchpoint) over journey_order as next_touchpoint,
        epoch(event_time) - epoch(lag(event_time) over journey_order) as seconds_since_previous
    from events
    window journey_order as (partition by customer_id order by event_index)
),

steps as (
    select
        customer_id,
        coalesce(previous_touchpoint, '(start)') as from_touchpoint,
        touchpoint as to_touchpoint,
        seconds_since_previous as seconds_between
    from neighbours
    union all
    select
        customer_id,
        touchpoint as from_touchpoint,
        '(end)' as to_touchpoint,
        null as seconds_between
    from neighbours
    where next_touchpoint is null
),

counted as (
    select
        from_touchpoint,
        to_touchpoint,
        count(*) as transition_count,
        count(distinct customer_id) as customer_count,
        median(seconds_between) as median_seconds
    from steps
    group by from_touchpoint, to_touchpoint
),

final as (
    select
        'journey' as scope,
        'all' as segment,
        from_touchpoint,
        to_touchpoint,
        transition_count,
        customer_count,
        transition_count / sum(transition_count) over (partition by from_touchpoint)
            as probability,
        median_seconds
    from counted
)

select * from final
