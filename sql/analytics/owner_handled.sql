-- one row per touchpoint x customer x resource; key: touchpoint, customer_id, resource
-- What each resource (team or person behind an event) handled of each customer at each
-- touchpoint, for touchpoint_owners (cjm.journeys.owners). The resource is the source column named
-- by `columns: resource` in the config, kept in events.properties; its JSON path is the variable
-- cjm_resource_path. resource is NULL for the customer's events there without one, so the rows
-- of a touchpoint hold all of its events and customers.
with

events as (
    select
        customer_id,
        touchpoint,
        sentiment,
        nullif(
            trim(json_extract_string(properties, getvariable('cjm_resource_path'))), ''
        ) as resource
    from events
),

handled as (
    select
        touchpoint,
        customer_id,
        resource,
        count(*) as event_count,
        count(sentiment) as rated_events,
        -- exact: validated sentiment is finite and in [-1, 1], so a DECIMAL sum holds it and
        -- gives the same mean however threads split the rows
        sum(cast(sentiment as decimal(27, 12))) as sentiment_sum
    from events
    group by touchpoint, customer_id, resource
)

select * from handled
