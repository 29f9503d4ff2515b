-- one row per customer of cjm_pattern_customers with a touchpoint by the cutoff; key: customer_id
-- Each customer's last cjm_pattern_last_n touchpoints at or before cjm_churn_as_of, oldest first
-- (cjm.churn.patterns.customer_patterns); the customers are the table cjm_pattern_customers.
with

customers as (
    select * from query_table(getvariable('cjm_pattern_customers'))
),

events as (
    select
        events.customer_id,
        events.touchpoint,
        events.event_time,
        events.event_index,
        events.event_id
    from events
    inner join customers on events.customer_id = customers.customer_id
    where
        events.event_time <= getvariable('cjm_churn_as_of')
        and events.touchpoint is not null
),

tail as (
    select
        customer_id,
        touchpoint,
        row_number() over (
            partition by customer_id order by event_time desc, event_index desc, event_id desc
        ) as back
    from events
    qualify back <= getvariable('cjm_pattern_last_n')
),

final as (
    select
        customer_id,
        list(touchpoint order by back desc) as seq
    from tail
    group by customer_id
)

select * from final
