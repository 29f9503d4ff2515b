-- one row per scope, from and to touchpoint; key: scope, from_touchpoint, to_touchpoint
-- The 'all' segment's counts and median seconds per edge. A partitioned run computes this per
-- bucket of customers and combines the buckets (int_transition_edges_combined).
with

steps as (
    select * from int_transition_steps
),

edges as (
    select
        scope,
        from_touchpoint,
        to_touchpoint,
        count(*) as transition_count,
        count(distinct customer_id) as customer_count,
        median(seconds_between) as median_seconds
    from steps
    group by scope, from_touchpoint, to_touchpoint
)

select * from edges
