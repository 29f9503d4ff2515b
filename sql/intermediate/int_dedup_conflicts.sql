-- one row per event id both in the published events and among this run's new rows;
-- key: event_id
-- Incremental runs only: the same rule as a full build, the first row in (source_file, source_row)
-- order is the event; is_new_first means the published copy becomes a duplicate.
with

new_events as (
    select * from int_new_events_deduplicated
    where not is_duplicate
),

published as (
    select * from prior_events
),

conflicts as (
    select
        new_events.event_id,
        new_events.source_file as new_source_file,
        new_events.source_row as new_source_row,
        published.source_file as prior_source_file,
        published.source_row as prior_source_row,
        published.customer_id as prior_customer_id,
        new_events.source_file < published.source_file
        or (
            new_events.source_file = published.source_file
            and new_events.source_row < published.source_row
        ) as is_new_first
    from new_events
    inner join published on new_events.event_id = published.event_id
)

select * from conflicts
