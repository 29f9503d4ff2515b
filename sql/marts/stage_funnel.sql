-- one row per stage of the funnel (awareness..advocacy, the variable cjm_funnel_stages); key: stage
-- A customer reaches a stage when they have an event in it or in any later stage, so the counts
-- never grow down the funnel and match journeys.furthest_stage (customers_stopped_here); the
-- moment a stage is reached is that first event. customers_with_stage_event counts customers
-- with an event in the stage itself. Step conversion of awareness is from all customers.
with

events as (
    select
        customer_id,
        event_time,
        stage
    from events
),

journeys as (
    select
        customer_id,
        furthest_stage
    from journeys
),

stages as (
    select
        unnest(getvariable('cjm_funnel_stages')) as stage,
        generate_subscripts(getvariable('cjm_funnel_stages'), 1) as stage_rank
),

stage_firsts as (
    select
        events.customer_id,
        stages.stage_rank,
        min(events.event_time) as first_at
    from events
    inner join stages on events.stage = stages.stage
    group by events.customer_id, stages.stage_rank
),

reached as (
    select
        stage_firsts.customer_id,
        stages.stage_rank,
        min(stage_firsts.first_at) as reached_at,
        bool_or(stage_firsts.stage_rank = stages.stage_rank) as has_stage_event
    from stage_firsts
    inner join stages on stage_firsts.stage_rank >= stages.stage_rank
    group by stage_firsts.customer_id, stages.stage_rank
),

gaps as (
    select
        customer_id,
        stage_rank,
        has_stage_event,
        epoch(reached_at) - epoch(lag(reached_at) over (
            partition by customer_id order by stage_rank
        )) as seconds_from_previous
    from reached
),

counted as (
    select
        stages.stage,
        stages.stage_rank,
        count(gaps.customer_id) as customer_count,
        count(gaps.customer_id) filter (where gaps.has_stage_event) as customers_with_stage_event,
        median(gaps.seconds_from_previous) as median_seconds_from_previous
    from stages
    left join gaps on stages.stage_rank = gaps.stage_rank
    group by stages.stage, stages.stage_rank
),

stopped as (
    select
        furthest_stage as stage,
        count(*) as customers_stopped_here
    from journeys
    group by furthest_stage
),

totals as (
    select count(*) as all_customers from journeys
),

final as (
    select
        counted.stage,
        cast(counted.stage_rank as bigint) as stage_rank,
        counted.customer_count,
        counted.customer_count / nullif(totals.all_customers, 0) as share_of_customers,
        counted.customer_count / nullif(
            coalesce(
                lag(counted.customer_count) over (order by counted.stage_rank),
                totals.all_customers
            ),
            0
        ) as step_conversion,
        counted.customers_with_stage_event,
        coalesce(stopped.customers_stopped_here, 0) as customers_stopped_here,
        counted.median_seconds_from_previous
    from counted
    cross join totals
    left join stopped on counted.stage = stopped.stage
)

select * from final
