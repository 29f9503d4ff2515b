-- one row per rejected row of the customers file; key: source_file, source_row
-- A row without a customer id is rejected; so is every row of an id the file gives more than
-- once, since nothing says which row is right (the reason names the other rows).
with

rows as (
    select * from stg_customer_attributes
),

counted as (
    select
        source_file,
        source_row,
        customer_id,
        count(*) over (partition by customer_id) as id_rows,
        string_agg(source_row::varchar, ', ' order by source_row)
            over (partition by customer_id) as id_source_rows
    from rows
),

rejected as (
    select
        source_file,
        source_row,
        customer_id,
        case
            when customer_id is null then 'missing customer id'
            else
                'duplicate customer id: ' || id_rows || ' rows (rows '
                || id_source_rows || ') give this id'
        end as reason
    from counted
    where customer_id is null or id_rows > 1
)

select * from rejected
