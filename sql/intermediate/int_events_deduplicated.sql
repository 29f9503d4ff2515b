-- one row per valid input row; key: source_file, source_row
-- An event is identified by its event_id, or without one by its content; the first row in file
-- order is kept and later copies are duplicates.
with

valid as (
    select * from int_events_validated
    where is_valid
),

identified as (
    select
        *,
        coalesce(
            source_event_id,
            md5(
                concat_ws(
                    chr(31),
                    coalesce(customer_id, chr(0)),
                    coalesce(anonymous_id, chr(0)),
                    cast(epoch_us(event_time) as varchar),
                    touchpoint,
                    coalesce(channel, chr(0)),
                    coalesce(cast(revenue as varchar), chr(0)),
                    coalesce(cast(sentiment as varchar), chr(0)),
                    coalesce(cast(properties as varchar), chr(0))
                )
            )
        ) as event_id
    from valid
),

ranked as (
    select
        *,
        row_number() over (
            partition by event_id
            order by source_file, source_row
        ) > 1 as is_duplicate
    from identified
)

select * from ranked
