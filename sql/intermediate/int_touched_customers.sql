-- one row per customer whose journey this run changes; key: customer_id
-- Incremental runs only: customers with new events, customers who lost an event to an earlier
-- copy in a new file, and both the old and the new owner of anonymous events whose anonymous_id
-- is now stitched to someone else.
with

new_events as (
    select * from int_events_deduplicated
    where not is_duplicate and not is_prior
),

identity_map as (
    select * from int_identity_map
),

conflicts as (
    select * from int_dedup_conflicts
),

published as (
    select * from prior_events
),

new_owners as (
    select
        coalesce(
            new_events.customer_id,
            identity_map.customer_id,
            'anon:' || new_events.anonymous_id
        ) as customer_id
    from new_events
    left join identity_map on new_events.anonymous_id = identity_map.anonymous_id
),

displaced_owners as (
    select prior_customer_id as customer_id
    from conflicts
    where is_new_first
),

prior_anonymous as (
    select
        anonymous_id,
        any_value(customer_id) as customer_id
    from published
    where is_stitched or is_anonymous
    group by anonymous_id
),

restitched as (
    select
        prior_anonymous.customer_id as previous_customer_id,
        coalesce(identity_map.customer_id, 'anon:' || prior_anonymous.anonymous_id)
            as customer_id
    from prior_anonymous
    left join identity_map on prior_anonymous.anonymous_id = identity_map.anonymous_id
),

moved as (
    select * from restitched
    where previous_customer_id <> customer_id
),

touched as (
    select customer_id from new_owners
    union
    select customer_id from displaced_owners
    union
    select previous_customer_id as customer_id from moved
    union
    select customer_id from moved
)

select * from touched
