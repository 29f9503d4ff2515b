-- one row per accepted event; key: event_id
-- Events with only an anonymous id join the journey of the customer that id was linked to;
-- never-linked visitors keep a journey of their own under `anon:<anonymous_id>`.
with

events as (
    select * from int_events_deduplicated
    where not is_duplicate
),

identity_map as (
    select * from int_identity_map
),

stitched as (
    select
        events.* exclude (customer_id),
        coalesce(
            events.customer_id,
            identity_map.customer_id,
            'anon:' || events.anonymous_id
        ) as customer_id,
        events.customer_id is null and identity_map.customer_id is not null as is_stitched,
        events.customer_id is null and identity_map.customer_id is null as is_anonymous
    from events
    left join identity_map on events.anonymous_id = identity_map.anonymous_id
)

select * from stitched
