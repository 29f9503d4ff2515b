-- one row per source file and touchpoint of this build's events; key: source_file, touchpoint
-- The files and touchpoints the later models look up (int_source_files, and the touchpoint stages
-- of cjm.build.models), found in one pass over the events rather than one pass each.
with

events as (
    select
        source_file,
        touchpoint
    from int_events_deduplicated
    where not is_duplicate
),

file_touchpoints as (
    select
        source_file,
        touchpoint
    from events
    group by source_file, touchpoint
)

select * from file_touchpoints
