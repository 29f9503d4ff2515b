-- one row per rejected row of the customers file; key: source_file, source_row
-- A row without a customer id is rejected; so is every row of an id the file gives more than
-- once, since nothing says which row is right (the reason names the other rows).
with

rows as (
    select * from stg_customer_attributes
),

-- Only the ids given twice or more are listed: one grouping, not a window over every row.
duplicate_ids as (
    select
        customer_id,
        count(*) as id_rows,
        string_agg(source_row::varchar, ', ' order by source_row) as id_source_rows
    from rows
    where customer_id is not null
    group by customer_id
    having count(*) > 1
),

rejected as (
    select
        rows.source_file,
        rows.source_row,
        rows.customer_id,
        case
            when rows.customer_id is null then 'missing customer id'
            else
                'duplicate customer id: ' || duplicate_ids.id_rows || ' rows (rows '
                || duplicate_ids.id_source_rows || ') give this id'
        end as reason
    from rows
    left join duplicate_ids on rows.customer_id = duplicate_ids.customer_id
    where rows.customer_id is null or duplicate_ids.customer_id is not null
)

select * from rejected
