-- one row per customer of the churn state with an event before their tail end; key: customer_id
-- Each customer's last cjm_churn_last_n touchpoints, oldest first (cjm.churn.patterns): of a
-- churner the ones strictly before churned_at, of a retained customer the ones before the time
-- they are known to have come back after (cjm_pattern_retained_until; null: all their events).
-- The churn state is the table cjm_pattern_states (customer_id, is_churned, churned_at).
with

churn_state as (
    select * from query_table(getvariable('cjm_pattern_states'))
),

states as (
    select
        customer_id::varchar as customer_id,
        is_churned::boolean as is_churned,
        case
            when is_churned then churned_at::timestamptz
            else getvariable('cjm_pattern_retained_until')::timestamptz
        end as tail_end
    from churn_state
),

events as (
    select
        events.customer_id,
        events.touchpoint,
        events.event_time,
        events.event_index,
        events.event_id,
        states.is_churned
    from events
    inner join states on events.customer_id = states.customer_id
    where
        events.touchpoint is not null
        and (states.tail_end is null or events.event_time < states.tail_end)
),

tail as (
    select
        *,
        row_number() over (
            partition by customer_id order by event_time desc, event_index desc, event_id desc
        ) as back
    from events
    qualify back <= getvariable('cjm_pattern_last_n')
),

final as (
    select
        customer_id,
        any_value(is_churned) as is_churned,
        list(touchpoint order by back desc) as seq
    from tail
    group by customer_id
)

select * from final
