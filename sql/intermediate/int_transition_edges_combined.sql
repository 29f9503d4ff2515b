-- one row per scope, from and to touchpoint; key: scope, from_touchpoint, to_touchpoint
-- int_transition_edges of a partitioned run, from the buckets' edges and seconds distributions.
-- Buckets hold disjoint customers, so counts and distinct customers add up exactly. The median is
-- computed as DuckDB's median() does (quantile_cont 0.5: lo + (hi - lo) * 0.5 between the two
-- middle values), so it equals the single-process value bit for bit.
with

bucket_edges as (
    select * from bucket_transition_edges
),

bucket_seconds as (
    select * from bucket_transition_seconds
),

summed as (
    select
        scope,
        from_touchpoint,
        to_touchpoint,
        sum(transition_count) as transition_count,
        sum(customer_count) as customer_count
    from bucket_edges
    group by scope, from_touchpoint, to_touchpoint
),

distribution as (
    select
        scope,
        from_touchpoint,
        to_touchpoint,
        seconds_between,
        sum(step_count) as step_count
    from bucket_seconds
    group by scope, from_touchpoint, to_touchpoint, seconds_between
),

cumulative as (
    select
        scope,
        from_touchpoint,
        to_touchpoint,
        seconds_between,
        sum(step_count) over edge_order - step_count as first_position,
        sum(step_count) over edge_order - 1 as last_position,
        sum(step_count) over (partition by scope, from_touchpoint, to_touchpoint) as value_count
    from distribution
    window edge_order as (
        partition by scope, from_touchpoint, to_touchpoint
        order by seconds_between
        rows between unbounded preceding and current row
    )
),

middles as (
    select
        scope,
        from_touchpoint,
        to_touchpoint,
        max(seconds_between) filter (
            where (value_count - 1) // 2 between first_position and last_position
        ) as lower_middle,
        max(seconds_between) filter (
            where value_count // 2 between first_position and last_position
        ) as upper_middle
    from cumulative
    group by scope, from_touchpoint, to_touchpoint
),

medians as (
    select
        scope,
        from_touchpoint,
        to_touchpoint,
        case
            when lower_middle = upper_middle then lower_middle
            else lower_middle + (upper_middle - lower_middle) * 0.5
        end as median_seconds
    from middles
),

edges as (
    select
        summed.scope,
        summed.from_touchpoint,
        summed.to_touchpoint,
        cast(summed.transition_count as bigint) as transition_count,
        cast(summed.customer_count as bigint) as customer_count,
        medians.median_seconds
    from summed
    left join medians
        on
            summed.scope = medians.scope
            and summed.from_touchpoint = medians.from_touchpoint
            and summed.to_touchpoint = medians.to_touchpoint
)

select * from edges
