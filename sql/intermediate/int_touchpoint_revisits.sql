-- one row per scope, segment and touchpoint; key: scope, segment, touchpoint
-- A customer revisits a touchpoint when they enter it, leave it for another touchpoint and enter
-- it again: within one journey (journey scope) or within one session (session scope). Repeats
-- without leaving (self-loops) are not revisits.
with

steps as (
    select * from int_transition_steps
),

customer_segments as (
    select * from customer_segments
),

entries as (
    select
        scope,
        customer_id,
        case when scope = 'session' then session_id end as session_key,
        to_touchpoint as touchpoint,
        count(*) as entry_count
    from steps
    where
        to_touchpoint != '(end)'
        and from_touchpoint != to_touchpoint
    group by scope, customer_id, session_key, to_touchpoint
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
