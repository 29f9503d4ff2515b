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
        -- exact DECIMAL sums: the same to the bit however threads split the rows; values
        -- beyond 1e14, NaN or infinite keep the double aggregate (cjm.db.exact_sum_sql)
        case
            when max(abs(revenue)) < 1e14
                then cast(sum(try_cast(revenue as decimal(27, 12))) as double)
            else sum(revenue)
        end as revenue,
        case
            when max(abs(sentiment)) < 1e14
                then avg(try_cast(sentiment as decimal(27, 12)))
            else avg(sentiment)
        end as mean_sentiment,
        bool_or(is_conversion) as has_conversion
    from events
    group by session_id
)

select * from sessions
