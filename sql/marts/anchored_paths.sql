-- one row per anchor, direction and path; key: anchor, direction, path
-- For each customer's FIRST event at an anchor touchpoint (`cjm_path_anchors`): the
-- `cjm_path_steps_before` touchpoints before it and the `cjm_path_steps_after` after it, across
-- sessions, in time order. A journey that starts or ends within reach shows '(start)' or '(end)',
-- so every customer with the anchor counts once per direction and share adds up to 1.
-- same_session_count: customers whose adjacent touchpoint is in the anchor's own session.
with

-- Not materialised: both readers scan the columns again, rather than DuckDB buffering every event.
events as not materialized (
    select
        customer_id,
        event_index,
        touchpoint,
        session_id
    from events
),

anchors as (
    select distinct unnest(getvariable('cjm_path_anchors')) as anchor
),

first_anchor as (
    select
        anchors.anchor,
        events.customer_id,
        min(events.event_index) as anchor_index,
        arg_min(events.session_id, events.event_index) as anchor_session_id
    from events
    inner join anchors on events.touchpoint = anchors.anchor
    group by anchors.anchor, events.customer_id
),

around as (
    select
        first_anchor.anchor,
        first_anchor.customer_id,
        events.touchpoint,
        events.event_index - first_anchor.anchor_index as step_offset,
        events.session_id = first_anchor.anchor_session_id as is_same_session
    from first_anchor
    inner join events
        on
            first_anchor.customer_id = events.customer_id
            and events.event_index
            between first_anchor.anchor_index - getvariable('cjm_path_steps_before')
            and first_anchor.anchor_index + getvariable('cjm_path_steps_after')
),

customer_paths as (
    select
        anchor,
        customer_id,
        concat_ws(
            ' > ',
            case
                when
                    count(*) filter (where step_offset < 0)
                    < getvariable('cjm_path_steps_before')
                    then '(start)'
            end,
            string_agg(touchpoint, ' > ' order by step_offset) filter (where step_offset < 0)
        ) as before_path,
        coalesce(
            any_value(touchpoint) filter (where step_offset = -1), '(start)'
        ) as previous_touchpoint,
        coalesce(
            bool_or(is_same_session) filter (where step_offset = -1), false
        ) as is_previous_in_session,
        concat_ws(
            ' > ',
            string_agg(touchpoint, ' > ' order by step_offset) filter (where step_offset > 0),
            case
                when
                    count(*) filter (where step_offset > 0)
                    < getvariable('cjm_path_steps_after')
                    then '(end)'
            end
        ) as after_path,
        coalesce(any_value(touchpoint) filter (where step_offset = 1), '(end)') as next_touchpoint,
        coalesce(bool_or(is_same_session) filter (where step_offset = 1), false)
            as is_next_in_session
    from around
    group by anchor, customer_id
),

directed as (
    select
        anchor,
        'before' as direction,
        getvariable('cjm_path_steps_before') as steps,
        before_path as path,
        previous_touchpoint as adjacent_touchpoint,
        is_previous_in_session as is_adjacent_in_session,
        customer_id
    from customer_paths
    where getvariable('cjm_path_steps_before') > 0
    union all
    select
        anchor,
        'after' as direction,
        getvariable('cjm_path_steps_after') as steps,
        after_path as path,
        next_touchpoint as adjacent_touchpoint,
        is_next_in_session as is_adjacent_in_session,
        customer_id
    from customer_paths
    where getvariable('cjm_path_steps_after') > 0
),

counted as (
    select
        anchor,
        direction,
        path,
        any_value(steps) as steps,
        any_value(adjacent_touchpoint) as adjacent_touchpoint,
        count(*) as customer_count,
        count(*) filter (where is_adjacent_in_session) as same_session_count
    from directed
    group by anchor, direction, path
),

final as (
    select
        anchor,
        direction,
        cast(steps as bigint) as steps,
        path,
        adjacent_touchpoint,
        customer_count,
        customer_count / sum(customer_count) over (partition by anchor, direction) as share,
        same_session_count,
        row_number() over (
            partition by anchor, direction order by customer_count desc, path asc
        ) as path_rank
    from counted
)

select * from final
