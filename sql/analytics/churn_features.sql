-- one row per customer with events at or before cjm_churn_as_of; key: customer_id
-- Churn-only features (cjm.churn.features): recent behaviour against the customer's own history.
-- The recent windows are 14 days (short enough to catch a fade, long enough to hold a session for
-- most customers) and 30 days for sentiment. last_counts holds, for each touchpoint of
-- cjm_churn_last_vocab in order, how many of the customer's last cjm_churn_last_events events
-- were of it. Reads scoped_events: the events of the customers in scope (cjm.churn.queries).
with

events as (
    -- the cutoff filter comes first: nothing after the cutoff reaches any feature
    select
        customer_id,
        event_id,
        event_index,
        event_time,
        session_id,
        touchpoint,
        stage,
        sentiment
    from scoped_events
    where event_time <= getvariable('cjm_churn_as_of')
),

session_starts as (
    select
        customer_id,
        session_id,
        min(event_time) as started_at
    from events
    group by customer_id, session_id
),

session_gaps as (
    select
        *,
        epoch(
            started_at - lag(started_at) over (
                partition by customer_id order by started_at, session_id
            )
        ) / 86400.0 as gap_days
    from session_starts
),

session_rhythm as (
    select
        customer_id,
        count(*) as sessions,
        min(started_at) as first_start,
        max(started_at) as last_start,
        max(gap_days) as longest_gap_days,
        -- the same to the bit in any row order (cjm.db.EXACT_AGGREGATES)
        cjm_exact_avg(gap_days) as mean_gap_days,
        count(*) filter (
            where started_at > getvariable('cjm_churn_as_of') - interval 14 day
        ) as sessions_last_14d,
        count(*) filter (
            where started_at <= getvariable('cjm_churn_as_of') - interval 14 day
        ) as sessions_before_14d
    from session_gaps
    group by customer_id
),

recent_events as (
    select
        customer_id,
        count(*) filter (
            where sentiment < -0.3
            and event_time > getvariable('cjm_churn_as_of') - interval 30 day
        ) as negative_events_30d,
        cjm_exact_avg(
            case
                when event_time > getvariable('cjm_churn_as_of') - interval 30 day
                    then sentiment
            end
        ) as sentiment_last_30d,
        cjm_exact_avg(
            case
                when event_time <= getvariable('cjm_churn_as_of') - interval 30 day
                    then sentiment
            end
        ) as sentiment_before_30d,
        count(*) filter (
            where stage = 'exit'
            and event_time > getvariable('cjm_churn_as_of') - interval 30 day
        ) as exit_stage_events_30d
    from events
    group by customer_id
),

last_events as (
    select
        customer_id,
        touchpoint
    from events
    qualify row_number() over (
        partition by customer_id order by event_time desc, event_index desc, event_id desc
    ) <= getvariable('cjm_churn_last_events')
),

last_touchpoints as (
    select
        customer_id,
        list(touchpoint) as touchpoints
    from last_events
    group by customer_id
),

last_counts as (
    select
        customer_id,
        list_transform(
            getvariable('cjm_churn_last_vocab')::varchar[],
            lambda v: len(list_filter(touchpoints, lambda t: t = v))
        ) as last_counts
    from last_touchpoints
),

final as (
    select
        session_rhythm.customer_id,
        epoch(getvariable('cjm_churn_as_of') - session_rhythm.last_start)
        / 86400.0
        / nullif(session_rhythm.mean_gap_days, 0) as recency_ratio,
        epoch(getvariable('cjm_churn_as_of') - session_rhythm.last_start)
        / 86400.0
        / nullif(session_rhythm.longest_gap_days, 0) as recency_vs_longest_gap,
        session_rhythm.longest_gap_days,
        session_rhythm.sessions_last_14d::bigint as sessions_last_14d,
        -- the customer's own rate before the recent window, per 14 days of their history there
        case
            when session_rhythm.first_start <= getvariable('cjm_churn_as_of') - interval 28 day
                then
                    session_rhythm.sessions_before_14d * 14.0
                    / (
                        epoch(
                            getvariable('cjm_churn_as_of')
                            - interval 14 day
                            - session_rhythm.first_start
                        )
                        / 86400.0
                    )
        end as sessions_usual_14d,
        case
            when session_rhythm.first_start <= getvariable('cjm_churn_as_of') - interval 28 day
                then
                    session_rhythm.sessions_last_14d / greatest(
                        session_rhythm.sessions_before_14d * 14.0
                        / (
                            epoch(
                                getvariable('cjm_churn_as_of')
                                - interval 14 day
                                - session_rhythm.first_start
                            )
                            / 86400.0
                        ),
                        0.25
                    )
        end as session_rate_ratio_14d,
        recent_events.negative_events_30d::bigint as negative_events_30d,
        recent_events.sentiment_last_30d,
        recent_events.sentiment_last_30d
        - recent_events.sentiment_before_30d as sentiment_change,
        recent_events.exit_stage_events_30d::bigint as exit_stage_events_30d,
        last_counts.last_counts
    from session_rhythm
    inner join recent_events on session_rhythm.customer_id = recent_events.customer_id
    inner join last_counts on session_rhythm.customer_id = last_counts.customer_id
)

select * from final
