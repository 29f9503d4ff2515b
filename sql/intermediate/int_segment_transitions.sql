-- one row per scope, segment, from and to touchpoint, for the segments of one segment type;
-- key: scope, segment, from_touchpoint, to_touchpoint
-- The same aggregation as sql/marts/transitions.sql, per customer segment: every customer is in
-- exactly one segment of each segment_type, so the segments of one type add up to 'all'.
-- Joining every step to every segment of its customer and then counting distinct customers and
-- taking medians holds all those rows in the aggregate's memory (gigabytes per million events).
-- Instead steps are first counted per customer, so only distributive aggregates meet the
-- segments, and the median is read by position from the seconds sorted within each transition
-- (numbered by an integer id), exactly as median(): the two middle values interpolated.
-- One segment type per run (the variable cjm_segment_type, set by cjm.graphs.segments): the
-- steps meet one segment per customer, not one per segment type, so what the sort of seconds
-- holds (and spills) is bounded by the steps, whatever the number of segment types.
with

-- Not materialised: both readers scan events again, rather than DuckDB buffering every step.
steps as not materialized (
    select * from int_transition_steps
),

customer_segments as (
    select * from customer_segments
    where segment_type = getvariable('cjm_segment_type')
),

customer_steps as (
    select
        scope,
        customer_id,
        from_touchpoint,
        to_touchpoint,
        count(*) as transition_count
    from steps
    group by scope, customer_id, from_touchpoint, to_touchpoint
),

counted as (
    select
        customer_steps.scope,
        customer_segments.segment_type,
        customer_segments.segment_value,
        customer_segments.segment,
        customer_steps.from_touchpoint,
        customer_steps.to_touchpoint,
        sum(customer_steps.transition_count)::bigint as transition_count,
        count(*) as customer_count
    from customer_steps
    inner join customer_segments
        on customer_steps.customer_id = customer_segments.customer_id
    group by
        customer_steps.scope,
        customer_segments.segment_type,
        customer_segments.segment_value,
        customer_segments.segment,
        customer_steps.from_touchpoint,
        customer_steps.to_touchpoint
),

edges as (
    select
        scope,
        segment,
        from_touchpoint,
        to_touchpoint,
        row_number() over () as edge_id
    from counted
),

edge_seconds as (
    select
        edges.edge_id,
        steps.seconds_between
    from steps
    inner join customer_segments
        on steps.customer_id = customer_segments.customer_id
    inner join edges
        on
            steps.scope = edges.scope
            and customer_segments.segment = edges.segment
            and steps.from_touchpoint = edges.from_touchpoint
            and steps.to_touchpoint = edges.to_touchpoint
    where steps.seconds_between is not null
),

seconds_ranked as (
    select
        edge_id,
        seconds_between,
        row_number() over (partition by edge_id order by seconds_between) - 1 as position,
        (count(*) over (partition by edge_id) - 1) / 2.0 as middle
    from edge_seconds
),

medians as (
    select
        edges.scope,
        edges.segment,
        edges.from_touchpoint,
        edges.to_touchpoint,
        min(seconds_ranked.seconds_between) filter (
            where seconds_ranked.position = floor(seconds_ranked.middle)
        ) as lower_middle,
        min(seconds_ranked.seconds_between) filter (
            where seconds_ranked.position = ceil(seconds_ranked.middle)
        ) as upper_middle,
        any_value(seconds_ranked.middle) as middle
    from seconds_ranked
    inner join edges on seconds_ranked.edge_id = edges.edge_id
    where
        seconds_ranked.position between floor(seconds_ranked.middle)
        and ceil(seconds_ranked.middle)
    group by edges.scope, edges.segment, edges.from_touchpoint, edges.to_touchpoint
),

final as (
    select
        counted.scope,
        counted.segment,
        counted.from_touchpoint,
        counted.to_touchpoint,
        counted.transition_count,
        counted.customer_count,
        counted.transition_count
        / sum(counted.transition_count) over (
            partition by counted.scope, counted.segment, counted.from_touchpoint
        ) as probability,
        medians.lower_middle
        + (medians.middle - floor(medians.middle))
        * (medians.upper_middle - medians.lower_middle) as median_seconds,
        counted.segment_type,
        counted.segment_value
    from counted
    left join medians
        on
            counted.scope = medians.scope
            and counted.segment = medians.segment
            and counted.from_touchpoint = medians.from_touchpoint
            and counted.to_touchpoint = medians.to_touchpoint
)

select * from final
