-- one row per input file of the run; key: source_file
-- Reconciles every file: rows_read = rows_accepted + rows_duplicate + rows_rejected. rows_read is
-- counted while landing (cjm.build.ingest), accepted and duplicate rows in
-- int_events_deduplicated, and rejected rows in rejected_events (unparseable rows and rows that
-- failed validation), so a row lost or counted twice between landing and the marts shows as
-- is_reconciled = false. A path
-- found among the inputs that is not an event file (another type, a symlink loop) has
-- status = 'skipped', 0 rows read and the reason; every other file has status = 'loaded'.
with

reads as (
    select * from raw_file_reads
),

rejected as (
    select
        source_file,
        count(*) as row_count
    from rejected_events
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
        coalesce(rejected.row_count, 0) as rows_rejected,
        reads.rows_read
        = coalesce(deduplicated.accepted_count, 0)
        + coalesce(deduplicated.duplicate_count, 0)
        + coalesce(rejected.row_count, 0) as is_reconciled,
        reads.status,
        reads.reason
    from reads
    left join rejected on reads.source_file = rejected.source_file
    left join deduplicated on reads.source_file = deduplicated.source_file
)

select * from final
