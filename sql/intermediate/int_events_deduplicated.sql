-- one row per valid input row; key: source_file, source_row
-- The valid rows with their event_id, each flagged when it is a later copy of an event
-- (int_event_duplicates). A view: the copies are few, so every reader pays only a scan.
with

valid as (
    select * from int_events_validated
    where is_valid
),

duplicates as (
    select * from int_event_duplicates
),

flagged as (
    select
        valid.source_file,
        valid.source_row,
        valid.customer_id,
        valid.anonymous_id,
        valid.event_time,
        valid.touchpoint,
        valid.channel,
        valid.revenue,
        valid.sentiment,
        valid.properties,
        valid.event_id,
        duplicates.source_row is not null as is_duplicate
    from valid
    left join duplicates
        on
            valid.source_file = duplicates.source_file
            and valid.source_row = duplicates.source_row
)

select * from flagged
