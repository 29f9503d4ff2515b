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
        source_file,
        source_row,
        customer_id,
        anonymous_id,
        event_time,
        touchpoint,
        channel,
        revenue,
        sentiment,
        properties,
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

-- Duplicates are rare: find the repeated ids with a hash aggregate over 64-bit hashes of the ids
-- (cheaper than over the id text), and order only the rows of those hashes by id, rather than
-- sorting every event by id. Rows that merely share a hash keep row number 1 of their own id.
repeated_hashes as (
    select hash(event_id) as event_hash
    from identified
    group by event_hash
    having count(*) > 1
),

repeated_rows as (
    select
        source_file,
        source_row,
        row_number() over (
            partition by event_id
            order by source_file, source_row
        ) > 1 as is_duplicate
    from identified
    where hash(event_id) in (select event_hash from repeated_hashes)
),

flagged as (
    select
        identified.*,
        coalesce(repeated_rows.is_duplicate, false) as is_duplicate
    from identified
    left join repeated_rows
        on
            identified.source_file = repeated_rows.source_file
            and identified.source_row = repeated_rows.source_row
)

select * from flagged
