-- one row per funnel, step and customer who reached that step in order;
-- key: funnel, step_number, customer_id
-- In order: step 1 is reached at the customer's first event at its touchpoint; step i + 1 at the
-- first event at its touchpoint strictly after the event that reached step i (any events may
-- happen in between, across sessions).
with recursive

-- Not materialised: each reader (and each round of the recursion) scans the columns again,
-- rather than DuckDB buffering every event.
events as not materialized (
    select
        customer_id,
        event_index,
        event_time,
        touchpoint
    from events
),

funnel_steps as (
    select * from int_funnel_steps
),

reached as (
    select
        funnel_steps.funnel,
        funnel_steps.step_number,
        events.customer_id,
        min(events.event_index) as reached_index
    from funnel_steps
    inner join events on funnel_steps.touchpoint = events.touchpoint
    where funnel_steps.step_number = 1
    group by funnel_steps.funnel, funnel_steps.step_number, events.customer_id
    union all
    select
        reached.funnel,
        reached.step_number + 1 as step_number,
        reached.customer_id,
        min(events.event_index) as reached_index
    from reached
    inner join funnel_steps
        on
            reached.funnel = funnel_steps.funnel
            and reached.step_number + 1 = funnel_steps.step_number
    inner join events
        on
            reached.customer_id = events.customer_id
            and funnel_steps.touchpoint = events.touchpoint
            and reached.reached_index < events.event_index
    group by reached.funnel, reached.step_number, reached.customer_id
),

timed as (
    select
        reached.funnel,
        reached.step_number,
        reached.customer_id,
        reached.reached_index,
        events.event_time as reached_at
    from reached
    inner join events
        on
            reached.customer_id = events.customer_id
            and reached.reached_index = events.event_index
)

select * from timed
