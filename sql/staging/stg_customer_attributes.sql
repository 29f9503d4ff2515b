-- one row per row of the customers file; key: source_file, source_row
-- Trims the text landed by cjm.build.customers (the id column already named customer_id, every
-- other column attr_<name>); empty text becomes null, as in stg_events.
with

source as (
    select * from raw_customer_attributes
),

trimmed as (
    select
        source_file,
        cast(source_row as bigint) as source_row,
        cjm_clean_text(customer_id) as customer_id,
        cjm_clean_text(columns('^attr_'))
    from source
)

select * from trimmed
