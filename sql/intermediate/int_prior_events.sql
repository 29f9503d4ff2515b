-- one row per event of the published database; key: event_id
-- Incremental runs only: turns published events back into the shape of int_events_deduplicated
-- (customer_id as it was in the file, before stitching), so they can be stitched and sessionised
-- again together with new rows.
with

published as (
    select * from prior_events
),

restored as (
    select
        source_file,
        source_row,
        case when is_stitched or is_anonymous then null else customer_id end as customer_id,
        anonymous_id,
        event_time,
        touchpoint,
        channel,
        revenue,
        sentiment,
        properties,
        event_id,
        false as is_duplicate,
        true as is_prior,
        customer_id as published_customer_id
    from published
)

select * from restored
