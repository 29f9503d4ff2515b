-- one row per scope, segment and touchpoint; key: scope, segment, touchpoint
-- A customer revisits a touchpoint when they enter it, leave it for another touchpoint and enter
-- it again: within one journey (journey scope) or within one session (session scope). Repeats
-- without leaving (self-loops) are not revisits.
with

-- Each event knows its previous touchpoint and whether it starts its session (events), so the
-- entries into touchpoints are read from events: an event enters its touchpoint in journey scope
-- unless the journey's previous event was at the same touchpoint, and in session scope unless the
-- session's previous event was. Not materialised: each scope scans events again. (Through
-- int_transition_steps, whose events are not materialised either, this model ran out of memory at
-- 100M events with an 8 GB limit; from events it took 38 s.)
events as not materialized (
    select
        customer_id,
        session_id,
        touchpoint,
        previous_touchpoint,
        is_session_start
    from events
),

customer_segments as (
    select * from customer_segments
),

entries as (
    select
        'journey' as scope,
        customer_id,
        null::varchar as session_key,
        touchpoint,
        count(*) as entry_count
    from events
    where previous_touchpoint is distinct from touchpoint
    group by customer_id, touchpoint
    union all
    select
        'session' as scope,
        customer_id,
        session_id as session_key,
        touchpoint,
        count(*) as entry_count
    from events
    where is_session_start or previous_touchpoint is distinct from touchpoint
    group by customer_id, session_id, touchpoint
),

visitors as (
    select
        scope,
        customer_id,
        touchpoint,
        max(entry_count) >= 2 as has_revisit
    from entries
    group by scope, customer_id, touchpoint
),

segments as (
    select distinct
        customer_id,
        'all' as segment
    from visitors
    union all
    select
        customer_id,
        segment
    from customer_segments
),

final as (
    select
        visitors.scope,
        segments.segment,
        visitors.touchpoint,
        count(*) as visitor_count,
        count_if(visitors.has_revisit) as revisit_customer_count
    from visitors
    inner join segments on visitors.customer_id = segments.customer_id
    group by visitors.scope, segments.segment, visitors.touchpoint
)

select * from final
