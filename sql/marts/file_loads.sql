-- one row per input file of the run; key: source_file
-- Reconciles every file: rows_read = rows_accepted + rows_duplicate + rows_rejected.
with

reads as (
    select * from raw_file_reads
),

unparseable as (
    select
        source_file,
        count(*) as row_count
    from raw_rejects
    group by source_file
),

validated as (
    select
        source_file,
        count(*) filter (where not is_valid) as invalid_count
    from int_events_validated
    group by source_file
),

deduplicated as (
    select
        source_file,
        count(*) filter (where not is_duplicate) as accepted_count,
        count(*) filter (where is_duplicate) as duplicate_count
    from int_events_deduplicated
    group by source_file
),

final as (
    select
        reads.source_file,
        reads.file_format,
        reads.rows_read,
        coalesce(deduplicated.accepted_count, 0) as rows_accepted,
        coalesce(deduplicated.duplicate_count, 0) as rows_duplicate,
        coalesce(unparseable.row_count, 0) + coalesce(validated.invalid_count, 0)
            as rows_rejected,
        reads.rows_read
        = coalesce(deduplicated.accepted_count, 0)
        + coalesce(deduplicated.duplicate_count, 0)
        + coalesce(unparseable.row_count, 0)
        + coalesce(validated.invalid_count, 0) as is_reconciled
    from reads
    left join unparseable on reads.source_file = unparseable.source_file
    left join validated on reads.source_file = validated.source_file
    left join deduplicated on reads.source_file = deduplicated.source_file
)

select * from final
