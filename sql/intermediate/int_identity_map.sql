-- one row per anonymous_id seen with a customer_id; key: anonymous_id
-- An anonymous id belongs to the customer it was first seen with.
with

events as (
    select * from int_events_deduplicated
    where not is_duplicate
),

links as (
    select
        anonymous_id,
        customer_id,
        min(event_time) as linked_at
    from events
    where anonymous_id is not null and customer_id is not null
    group by anonymous_id, customer_id
),

ranked as (
    select
        anonymous_id,
        customer_id,
        linked_at,
        row_number() over (
            partition by anonymous_id
            order by linked_at, customer_id
        ) as link_rank,
        count(*) over (partition by anonymous_id) as linked_customer_count
    from links
),

first_link as (
    select
        anonymous_id,
        customer_id,
        linked_at,
        linked_customer_count
    from ranked
    where link_rank = 1
)

select * from first_link
