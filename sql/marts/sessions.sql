-- one row per session; key: session_id
with

events as (
    select * from events
),

sessions as (
    select
        session_id,
        any_value(customer_id) as customer_id,
        any_value(session_index) as session_index,
        min(event_time) as started_at,
        max(event_time) as ended_at,
        epoch(max(event_time)) - epoch(min(event_time)) as duration_seconds,
        count(*) as event_count,
        arg_min(touchpoint, event_index) as entry_touchpoint,
        arg_max(touchpoint, event_index) as exit_touchpoint,
        arg_min(channel, event_index) filter (where channel is not null) as channel,
        -- the same to the bit however threads split the rows (cjm.db.EXACT_AGGREGATES)
        cjm_exact_sum(revenue) as revenue,
        cjm_exact_avg(sentiment) as mean_sentiment,
        bool_or(is_conversion) as has_conversion
    from events
    group by session_id
)

select * from sessions
