-- one row per customers file of the run; key: source_file
-- Reconciles the file: rows_read = rows_accepted + rows_rejected, and rows_accepted =
-- rows_matched (the id has events) + rows_unmatched (no events; kept in customer_attributes).
with

rows as (
    select * from stg_customer_attributes
),

accepted as (
    select * from customer_attributes
),

rejected as (
    select * from rejected_customer_attributes
),

read_counts as (
    select
        source_file,
        count(*) as rows_read
    from rows
    group by source_file
),

accepted_counts as (
    select
        source_file,
        count(*) as rows_accepted,
        count(*) filter (where has_events) as rows_matched,
        count(*) filter (where not has_events) as rows_unmatched
    from accepted
    group by source_file
),

rejected_counts as (
    select
        source_file,
        count(*) as rows_rejected,
        count(*) filter (where customer_id is not null) as rows_duplicate_id,
        count(*) filter (where customer_id is null) as rows_missing_id
    from rejected
    group by source_file
),

final as (
    select
        read_counts.source_file,
        read_counts.rows_read,
        coalesce(accepted_counts.rows_accepted, 0) as rows_accepted,
        coalesce(accepted_counts.rows_matched, 0) as rows_matched,
        coalesce(accepted_counts.rows_unmatched, 0) as rows_unmatched,
        coalesce(rejected_counts.rows_rejected, 0) as rows_rejected,
        coalesce(rejected_counts.rows_duplicate_id, 0) as rows_duplicate_id,
        coalesce(rejected_counts.rows_missing_id, 0) as rows_missing_id,
        read_counts.rows_read
        = coalesce(accepted_counts.rows_accepted, 0)
        + coalesce(rejected_counts.rows_rejected, 0) as is_reconciled
    from read_counts
    left join accepted_counts on read_counts.source_file = accepted_counts.source_file
    left join rejected_counts on read_counts.source_file = rejected_counts.source_file
)

select * from final
