-- one row per scope, segment, from and to touchpoint, for every segment but 'all';
-- key: scope, segment, from_touchpoint, to_touchpoint
-- The same aggregation as sql/marts/transitions.sql, per customer segment: every customer is in
-- exactly one segment of each segment_type, so the segments of one type add up to 'all'.
with

steps as (
    select * from int_transition_steps
),

customer_segments as (
    select * from customer_segments
),

segmented as (
    select
        steps.scope,
        customer_segments.segment_type,
        customer_segments.segment_value,
        customer_segments.segment,
        steps.customer_id,
        steps.from_touchpoint,
        steps.to_touchpoint,
        steps.seconds_between
    from steps
    inner join customer_segments on steps.customer_id = customer_segments.customer_id
),

counted as (
    select
        scope,
        segment_type,
        segment_value,
        segment,
        from_touchpoint,
        to_touchpoint,
        count(*) as transition_count,
        count(distinct customer_id) as customer_count,
        median(seconds_between) as median_seconds
    from segmented
    group by scope, segment_type, segment_value, segment, from_touchpoint, to_touchpoint
),

final as (
    select
        scope,
        segment,
        from_touchpoint,
        to_touchpoint,
        transition_count,
        customer_count,
        transition_count
        / sum(transition_count) over (partition by scope, segment, from_touchpoint)
            as probability,
        median_seconds,
        segment_type,
        segment_value
    from counted
)

select * from final
