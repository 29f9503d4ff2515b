-- one row per accepted event; key: event_id
-- A session ends after `session_gap` of inactivity: a gap equal to or longer than it starts a new
-- session. Ties in time keep file order. The same window passes note each event's neighbours
-- (previous touchpoint, seconds since the previous event, whether it starts or ends its session or
-- ends the journey), from which the transition steps are read without another window. The rows
-- leave the windows grouped by customer, as the events table keeps them. The windows carry the
-- file's rank, not its path (every column a window carries is sorted with it).
with

events as (
    select * from int_events_stitched
),

file_ranks as (
    select * from int_source_files
),

ranked as (
    select
        events.* exclude (source_file),
        file_ranks.file_rank
    from events
    inner join file_ranks on events.source_file = file_ranks.source_file
),

gaps as (
    select
        *,
        epoch(event_time) - epoch(
            lag(event_time) over (
                partition by customer_id
                order by event_time, file_rank, source_row
            )
        ) as seconds_since_previous
    from ranked
),

flagged as (
    select
        *,
        coalesce(
            seconds_since_previous >= getvariable('cjm_session_gap_seconds'), true
        ) as is_session_start
    from gaps
),

-- A session's id hashes its customer and start time; it is hashed on the session's first event
-- only and carried to the rest by the window below (hashing every event cost 0.6 s at 10M events).
hashed as (
    select
        *,
        case
            when is_session_start
                then
                    substr(
                        md5(customer_id || chr(31) || cast(epoch_us(event_time) as varchar)),
                        1,
                        20
                    )
        end as started_session_id
    from flagged
),

numbered as (
    select
        *,
        row_number() over journey_order as event_index,
        cast(sum(cast(is_session_start as integer)) over journey_order as bigint)
            as session_index,
        last_value(started_session_id ignore nulls) over journey_order as session_id,
        lag(touchpoint) over journey_order as previous_touchpoint,
        lead(is_session_start) over journey_order as is_next_session_start
    from hashed
    window journey_order as (
        partition by customer_id
        order by event_time, file_rank, source_row
        rows between unbounded preceding and current row
    )
),

identified as (
    select
        numbered.* exclude (file_rank, started_session_id, is_next_session_start),
        file_ranks.source_file,
        coalesce(is_next_session_start, true) as is_session_end,
        is_next_session_start is null as is_journey_end
    from numbered
    inner join file_ranks on numbered.file_rank = file_ranks.file_rank
)

select * from identified
