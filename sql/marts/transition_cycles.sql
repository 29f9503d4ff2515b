-- one row per scope and cycle; key: scope, cycle
-- Customers going round in circles: a 2-node cycle is a > b > a (a != b), a 3-node cycle is
-- a > b > c > a (all different), on consecutive events of one journey (journey scope) or one
-- session (session scope). A cycle is named from the touchpoint it leaves and returns to, so
-- a > b > a and b > a > b are different rows. Self-loops (a > a) are in touchpoint_graph_metrics.
with

events as (
    select
        customer_id,
        session_id,
        touchpoint,
        event_index
    from events
),

windows as (
    select
        customer_id,
        session_id,
        touchpoint as t0,
        lead(touchpoint, 1) over journey_order as t1,
        lead(touchpoint, 2) over journey_order as t2,
        lead(touchpoint, 3) over journey_order as t3,
        lead(session_id, 2) over journey_order as session_2,
        lead(session_id, 3) over journey_order as session_3
    from events
    window journey_order as (partition by customer_id order by event_index)
),

flagged as (
    select
        customer_id,
        session_id,
        t0,
        t1,
        t2,
        session_2,
        session_3,
        coalesce(t2 = t0 and t1 != t0, false) as is_two_node,
        coalesce(t3 = t0 and t1 != t0 and t2 != t0 and t2 != t1, false) as is_three_node
    from windows
),

-- Only the rows that start a cycle leave the window, and only they are buffered for the two cycle
-- lengths below (materialised on purpose: inlined, it would make the window two readers, and
-- DuckDB would buffer every row of the window instead).
cycle_starts as materialized (
    select * from flagged
    where is_two_node or is_three_node
),

traversals as (
    select
        'journey' as scope,
        customer_id,
        2 as node_count,
        concat_ws(' > ', t0, t1, t0) as cycle,
        session_2 = session_id as is_in_session
    from cycle_starts
    where is_two_node
    union all
    select
        'journey' as scope,
        customer_id,
        3 as node_count,
        concat_ws(' > ', t0, t1, t2, t0) as cycle,
        session_3 = session_id as is_in_session
    from cycle_starts
    where is_three_node
),

scoped as (
    select
        scope,
        customer_id,
        node_count,
        cycle
    from traversals
    union all
    select
        'session' as scope,
        customer_id,
        node_count,
        cycle
    from traversals
    where is_in_session
),

final as (
    select
        scope,
        cycle,
        any_value(node_count) as node_count,
        count(*) as occurrence_count,
        count(distinct customer_id) as customer_count
    from scoped
    group by scope, cycle
)

select * from final
