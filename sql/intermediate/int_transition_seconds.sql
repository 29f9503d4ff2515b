-- one row per scope, from and to touchpoint and distinct seconds between;
-- key: scope, from_touchpoint, to_touchpoint, seconds_between
-- The distribution of seconds per edge within one bucket of customers: what an exact median over
-- all buckets needs (a median of medians is not the median).
with

steps as (
    select * from int_transition_steps
),

distribution as (
    select
        scope,
        from_touchpoint,
        to_touchpoint,
        seconds_between,
        count(*) as step_count
    from steps
    where seconds_between is not null
    group by scope, from_touchpoint, to_touchpoint, seconds_between
)

select * from distribution
