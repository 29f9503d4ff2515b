-- one row per customer; key: customer_id
-- furthest_stage is the latest stage reached in the funnel's order (awareness < consideration <
-- purchase < retention < advocacy, the variable cjm_funnel_stages); exit is reported separately as
-- has_exited.
with

events as (
    select * from events
),

ranked as (
    select
        *,
        list_position(getvariable('cjm_funnel_stages'), stage) as stage_rank
    from events
),

journeys as (
    select
        customer_id,
        min(event_time) as first_seen_at,
        max(event_time) as last_seen_at,
        cast(max(session_index) as bigint) as session_count,
        count(*) as event_count,
        string_agg(touchpoint, ' > ' order by event_index) as path,
        arg_max(stage, stage_rank) filter (where stage_rank is not null) as furthest_stage,
        bool_or(is_conversion) as is_converted,
        min(event_time) filter (where is_conversion) as first_converted_at,
        coalesce(bool_or(stage = 'exit'), false) as has_exited,
        -- the same to the bit however threads split the rows (cjm.db.EXACT_AGGREGATES)
        cjm_exact_sum(revenue) as revenue,
        cjm_exact_avg(sentiment) as mean_sentiment,
        arg_min(channel, event_index) filter (where channel is not null) as first_channel,
        arg_min(touchpoint, event_index) as first_touchpoint,
        arg_max(touchpoint, event_index) as last_touchpoint,
        bool_and(is_anonymous) as is_anonymous
    from ranked
    group by customer_id
)

select * from journeys
