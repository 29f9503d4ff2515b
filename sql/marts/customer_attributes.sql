-- one row per customer of the customers file; key: customer_id
-- The rows not rejected, each with whether the id has events (matched) or not (unmatched: kept,
-- counted in customer_attribute_loads, never dropped). Attribute columns stay text: attr_<name>.
with

rows as (
    select * from stg_customer_attributes
),

rejected as (
    select * from rejected_customer_attributes
),

journeys as (
    select * from journeys
),

accepted as (
    select rows.*
    from rows
    anti join rejected
        on
            rows.source_file = rejected.source_file
            and rows.source_row = rejected.source_row
),

matched as (
    select
        accepted.customer_id,
        journeys.customer_id is not null as has_events,
        accepted.source_file,
        accepted.source_row,
        accepted.* exclude (customer_id, source_file, source_row)
    from accepted
    left join journeys on accepted.customer_id = journeys.customer_id
)

select * from matched
