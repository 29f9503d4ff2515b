-- one row per source file of this build's rows; key: source_file
-- The files in name order as numbers: sorting by (file_rank, source_row) is sorting by
-- (source_file, source_row) without comparing long path strings in every window sort.
with

file_touchpoints as (
    select source_file from int_file_touchpoints
),

files as (
    select distinct source_file from file_touchpoints
),

file_ranks as (
    select
        source_file,
        row_number() over (order by source_file) as file_rank
    from files
)

select * from file_ranks
