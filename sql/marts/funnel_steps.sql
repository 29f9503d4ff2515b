-- one row per funnel and step; key: funnel, step_number
-- Customers reaching each configured funnel step in order (see int_funnel_reached): step
-- conversion from the step before (step 1: from all customers), overall conversion from step 1,
-- the median seconds from reaching the step before, and how many stopped at this step.
with

reached as (
    select * from int_funnel_reached
),

funnel_steps as (
    select * from int_funnel_steps
),

customers as (
    select count(*) as customer_count from journeys
),

gaps as (
    select
        reached.funnel,
        reached.step_number,
        reached.customer_id,
        epoch(reached.reached_at) - epoch(previous.reached_at) as seconds_from_previous
    from reached
    left join reached as previous
        on
            reached.funnel = previous.funnel
            and reached.customer_id = previous.customer_id
            and reached.step_number = previous.step_number + 1
),

counted as (
    select
        funnel_steps.funnel,
        funnel_steps.step_number,
        funnel_steps.touchpoint,
        count(gaps.customer_id) as customer_count,
        median(gaps.seconds_from_previous) as median_seconds_from_previous
    from funnel_steps
    left join gaps
        on
            funnel_steps.funnel = gaps.funnel
            and funnel_steps.step_number = gaps.step_number
    group by funnel_steps.funnel, funnel_steps.step_number, funnel_steps.touchpoint
),

final as (
    select
        counted.funnel,
        cast(counted.step_number as bigint) as step_number,
        counted.touchpoint,
        counted.customer_count,
        counted.customer_count / nullif(
            coalesce(lag(counted.customer_count) over funnel_order, customers.customer_count), 0
        ) as step_conversion,
        counted.customer_count / nullif(first_value(counted.customer_count) over funnel_order, 0)
            as overall_conversion,
        counted.median_seconds_from_previous,
        counted.customer_count - lead(counted.customer_count) over funnel_order as dropout_count
    from counted
    cross join customers
    window funnel_order as (partition by counted.funnel order by counted.step_number)
)

select * from final
