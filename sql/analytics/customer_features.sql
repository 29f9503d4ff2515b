-- one row per customer with events at or before $as_of; key: customer_id
-- Reads feature_events, the events of the customers described: cjm.personas.features defines it
-- over every customer's events or one batch's (a caller's table, so not a parameter). The
-- per-touchpoint and per-channel columns are named after the log's vocabulary: this query gives
-- their counts as maps by vocabulary position (tp_n, tp_n30, ch_n), and
-- cjm.personas.features.customer_features_query turns them into one column each.
-- Sums and means of doubles are the same to the bit in any row order
-- (cjm_exact_sum / cjm_exact_avg: cjm.db.EXACT_AGGREGATES).
with

-- the cutoff filter comes first so nothing after as_of (not even a session's tail) leaks; base
-- is not materialised: each reader scans the events again rather than DuckDB buffering every
-- event for them (6.9 s -> 5.8 s for all customers at 10M events)
base as not materialized (
    select
        customer_id,
        event_id,
        event_index,
        event_time,
        session_id,
        touchpoint,
        channel,
        stage,
        revenue,
        sentiment,
        is_conversion,
        event_time at time zone $tz as local_time
    from feature_events
    where event_time <= $as_of
),

stepped as (
    select
        *,
        lag(touchpoint) over w as prev_touchpoint,
        lag(stage) over w as prev_stage,
        list_position($stages::varchar[], stage) as stage_rank,
        lag(list_position($stages::varchar[], stage)) over w as prev_stage_rank
    from base
    window w as (partition by customer_id order by event_time, event_index)
),

sess as (
    select
        customer_id,
        session_id,
        min(event_time) as started_at,
        epoch(max(event_time) - min(event_time)) as seconds
    from base
    group by customer_id, session_id
),

sess_agg as (
    select
        customer_id,
        count(*) as frequency,
        cjm_exact_avg(seconds) as mean_session_seconds,
        epoch(max(started_at) - min(started_at)) / 86400.0 as start_span_days,
        max(started_at, 2) as last_two_starts
    from sess
    group by customer_id
),

cust as (
    select
        customer_id,
        min(event_time) as first_seen,
        max(event_time) as last_seen,
        count(*) as event_count,
        cjm_exact_sum(revenue) as revenue,
        cjm_exact_avg(sentiment) as sentiment,
        avg((isodow(local_time) in (6, 7))::double) as weekend_share,
        avg((hour(local_time) >= 22 or hour(local_time) < 6)::double) as night_share,
        avg((hour(local_time) between 6 and 11)::double) as morning_share,
        avg((hour(local_time) between 12 and 17)::double) as afternoon_share,
        avg((hour(local_time) between 18 and 21)::double) as evening_share,
        coalesce(max(stage_rank), 0) as furthest_stage_rank,
        coalesce(bool_or(is_conversion), false)::integer as is_converted,
        min(event_time) filter (where is_conversion) as first_converted,
        count(prev_touchpoint) as steps,
        count(*) filter (where prev_touchpoint = touchpoint) as same_steps,
        count(*) filter (where prev_stage = 'retention' and stage = 'retention') as ret_steps,
        count(*) filter (where stage_rank < prev_stage_rank) as back_steps,
        count(*) filter (where event_time > $as_of - interval 7 day) as events_last_7d,
        count(*) filter (where event_time > $as_of - interval 30 day) as events_last_30d,
        count(*) filter (
            where
            event_time > $as_of - interval 60 day
            and event_time <= $as_of - interval 30 day
        ) as events_prev_30d
    from stepped
    group by customer_id
),

-- whether the log has revenue at all is a property of every customer's events, batch or not
log as (
    select count(revenue) > 0 as has_revenue
    from events
    where event_time <= $as_of
),

-- mixes come from per-(customer, value) counts, a far smaller table than the events, gathered
-- into one map per customer: one aggregate instead of one filtered aggregate per column; the
-- vocabulary comes from the data, so it travels as a list parameter, never as SQL text
tp_vocab as (
    select
        unnest($tp_vocab::varchar[]) as v,
        unnest(range(len($tp_vocab::varchar[]))) as i
),

tp_counts as (
    select
        base.customer_id,
        tp_vocab.i,
        count(*) as n,
        count(*) filter (where base.event_time > $as_of - interval 30 day) as n30
    from base
    inner join tp_vocab on base.touchpoint = tp_vocab.v
    group by base.customer_id, tp_vocab.i
),

tp_mix as (
    select
        customer_id,
        map(list(i), list(n)) as tp_n,
        map(list(i), list(n30)) as tp_n30
    from tp_counts
    group by customer_id
),

ch_vocab as (
    select
        unnest($ch_vocab::varchar[]) as v,
        unnest(range(len($ch_vocab::varchar[]))) as i
),

ch_counts as (
    select
        base.customer_id,
        ch_vocab.i,
        count(*) as n
    from base
    inner join ch_vocab on base.channel = ch_vocab.v
    group by base.customer_id, ch_vocab.i
),

ch_mix as (
    select
        customer_id,
        map(list(i), list(n)) as ch_n
    from ch_counts
    group by customer_id
),

features as (
    select
        c.customer_id,
        epoch($as_of - c.last_seen) / 86400.0 as recency_days,
        s.frequency::bigint as frequency,
        c.event_count::bigint as event_count,
        epoch($as_of - c.first_seen) / 86400.0 as tenure_days,
        case when log.has_revenue then coalesce(c.revenue, 0) end::double as monetary,
        c.event_count / s.frequency as events_per_session,
        s.mean_session_seconds,
        s.frequency * 7.0 / greatest(epoch($as_of - c.first_seen) / 86400.0, 7)
            as sessions_per_week,
        case
            when s.frequency > 1 then s.start_span_days / (s.frequency - 1)
        end as mean_days_between_sessions,
        case
            when s.frequency > 1
                then epoch(s.last_two_starts[1] - s.last_two_starts[2]) / 86400.0
        end as days_between_last_sessions,
        c.weekend_share,
        c.night_share,
        c.morning_share,
        c.afternoon_share,
        c.evening_share,
        c.furthest_stage_rank::integer as furthest_stage_rank,
        c.is_converted,
        epoch(c.first_converted - c.first_seen) / 86400.0 as days_to_convert,
        coalesce(c.sentiment, 0)::double as mean_sentiment,
        (c.sentiment is null)::integer as sentiment_missing,
        (c.same_steps / nullif(c.steps, 0))::double as same_touchpoint_share,
        (c.ret_steps / nullif(c.steps, 0))::double as retention_loop_share,
        (c.back_steps / nullif(c.steps, 0))::double as backward_step_share,
        c.events_last_7d::bigint as events_last_7d,
        c.events_last_30d::bigint as events_last_30d,
        c.events_prev_30d::bigint as events_prev_30d,
        coalesce(
            (c.events_last_30d - c.events_prev_30d)
            / nullif(c.events_last_30d + c.events_prev_30d, 0),
            0
        )::double as activity_trend,
        tp_mix.tp_n,
        tp_mix.tp_n30,
        ch_mix.ch_n
    from cust as c
    inner join sess_agg as s using (customer_id)
    cross join log
    left join tp_mix using (customer_id)
    left join ch_mix using (customer_id)
)

select * from features
