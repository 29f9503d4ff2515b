-- one row per funnel, step and next touchpoint; key: funnel, step_number, next_touchpoint
-- Where the customers who reached a funnel step but not the next one went: the touchpoint right
-- after the event that reached the step ('(end)' when their journey ends there).
with

reached as (
    select * from int_funnel_reached
),

events as (
    select
        customer_id,
        event_index,
        touchpoint
    from events
),

funnel_steps as (
    select * from int_funnel_steps
),

last_steps as (
    select
        funnel,
        max(step_number) as step_count
    from funnel_steps
    group by funnel
),

dropped as (
    select
        reached.funnel,
        reached.step_number,
        reached.customer_id,
        reached.reached_index
    from reached
    inner join last_steps
        on
            reached.funnel = last_steps.funnel
            and reached.step_number < last_steps.step_count
    anti join reached as went_on
        on
            reached.funnel = went_on.funnel
            and reached.customer_id = went_on.customer_id
            and reached.step_number + 1 = went_on.step_number
),

next_steps as (
    select
        dropped.funnel,
        dropped.step_number,
        dropped.customer_id,
        coalesce(events.touchpoint, '(end)') as next_touchpoint
    from dropped
    left join events
        on
            dropped.customer_id = events.customer_id
            and dropped.reached_index + 1 = events.event_index
),

counted as (
    select
        next_steps.funnel,
        next_steps.step_number,
        funnel_steps.touchpoint,
        next_steps.next_touchpoint,
        count(*) as customer_count
    from next_steps
    inner join funnel_steps
        on
            next_steps.funnel = funnel_steps.funnel
            and next_steps.step_number = funnel_steps.step_number
    group by
        next_steps.funnel,
        next_steps.step_number,
        funnel_steps.touchpoint,
        next_steps.next_touchpoint
),

final as (
    select
        funnel,
        cast(step_number as bigint) as step_number,
        touchpoint,
        next_touchpoint,
        customer_count,
        customer_count / sum(customer_count) over (partition by funnel, step_number) as share,
        row_number() over (
            partition by funnel, step_number order by customer_count desc, next_touchpoint asc
        ) as next_rank
    from counted
)

select * from final
