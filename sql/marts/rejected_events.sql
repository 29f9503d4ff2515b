-- one row per rejected input row; key: source_file, source_row
with

unparseable as (
    select * from raw_rejects
),

invalid as (
    select * from int_events_validated
    where not is_valid
),

invalid_rows as (
    select
        source_file,
        source_row,
        rejection_reason as reason,
        raw
    from invalid
),

combined as (
    select
        source_file,
        source_row,
        reason,
        raw
    from unparseable
    union all
    select
        source_file,
        source_row,
        reason,
        raw
    from invalid_rows
),

final as (
    select * from combined
    order by source_file, source_row
)

select * from final
