-- one row per from touchpoint, to touchpoint and path; key: from_touchpoint, to_touchpoint, path
-- For each pair in `cjm_path_between`: from each customer's FIRST event at from_touchpoint to the
-- next event at to_touchpoint after it, the touchpoints in between ('(direct)' when none);
-- customers who never reach to_touchpoint after it are the '(never)' row, so share adds up to 1.
with

-- Not materialised: each of the three readers scans the columns again, rather than DuckDB
-- buffering every event for them.
events as not materialized (
    select
        customer_id,
        event_index,
        event_time,
        touchpoint
    from events
),

pairs as (
    select distinct
        pair[1] as from_touchpoint,
        pair[2] as to_touchpoint
    from (select unnest(getvariable('cjm_path_between')) as pair) as listed
),

starts as (
    select
        pairs.from_touchpoint,
        pairs.to_touchpoint,
        events.customer_id,
        min(events.event_index) as from_index,
        arg_min(events.event_time, events.event_index) as from_at
    from pairs
    inner join events on pairs.from_touchpoint = events.touchpoint
    group by pairs.from_touchpoint, pairs.to_touchpoint, events.customer_id
),

ends as (
    select
        starts.from_touchpoint,
        starts.to_touchpoint,
        starts.customer_id,
        starts.from_index,
        starts.from_at,
        min(events.event_index) as to_index,
        arg_min(events.event_time, events.event_index) as to_at
    from starts
    left join events
        on
            starts.customer_id = events.customer_id
            and starts.to_touchpoint = events.touchpoint
            and starts.from_index < events.event_index
    group by
        starts.from_touchpoint,
        starts.to_touchpoint,
        starts.customer_id,
        starts.from_index,
        starts.from_at
),

inner_steps as (
    select
        ends.from_touchpoint,
        ends.to_touchpoint,
        ends.customer_id,
        ends.to_index,
        epoch(ends.to_at) - epoch(ends.from_at) as seconds_between,
        string_agg(events.touchpoint, ' > ' order by events.event_index) as inner_path,
        count(events.event_index) as step_count
    from ends
    left join events
        on
            ends.customer_id = events.customer_id
            and ends.from_index < events.event_index
            and ends.to_index > events.event_index
    group by
        ends.from_touchpoint,
        ends.to_touchpoint,
        ends.customer_id,
        ends.to_index,
        ends.from_at,
        ends.to_at
),

labelled as (
    select
        from_touchpoint,
        to_touchpoint,
        customer_id,
        seconds_between,
        case when to_index is not null then step_count end as step_count,
        case
            when to_index is null then '(never)'
            when step_count = 0 then '(direct)'
            else inner_path
        end as path
    from inner_steps
),

counted as (
    select
        from_touchpoint,
        to_touchpoint,
        path,
        any_value(step_count) as step_count,
        count(*) as customer_count,
        median(seconds_between) as median_seconds
    from labelled
    group by from_touchpoint, to_touchpoint, path
),

final as (
    select
        from_touchpoint,
        to_touchpoint,
        path,
        step_count,
        customer_count,
        customer_count / sum(customer_count) over (
            partition by from_touchpoint, to_touchpoint
        ) as share,
        median_seconds,
        row_number() over (
            partition by from_touchpoint, to_touchpoint order by customer_count desc, path asc
        ) as path_rank
    from counted
)

select * from final
