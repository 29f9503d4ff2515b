-- one row per persona x attribute x value; key: persona_id, attribute, attribute_value
-- Over the customers with a persona (every customer with events): a customer without a row in the
-- customers file, or with an empty value, counts as '(none)', so the shares of one attribute add
-- up to 1 within each persona. lift = share_in_persona / share_overall.
with

attributes as (
    select * from customer_attributes
),

personas as (
    select * from customer_personas
),

filled as (
    select
        customer_id,
        coalesce(columns('^attr_'), '(none)')
    from attributes
),

long_values as (
    unpivot filled
    on columns('^attr_')
    into name attribute_column value attribute_value
),

attribute_names as (
    select distinct attribute_column from long_values
),

customer_values as (
    select
        personas.customer_id,
        personas.persona_id,
        regexp_replace(attribute_names.attribute_column, '^attr_', '') as attribute,
        coalesce(long_values.attribute_value, '(none)') as attribute_value
    from personas
    cross join attribute_names
    left join long_values
        on
            personas.customer_id = long_values.customer_id
            and attribute_names.attribute_column = long_values.attribute_column
),

persona_counts as (
    select
        persona_id,
        attribute,
        attribute_value,
        count(*) as customers
    from customer_values
    group by persona_id, attribute, attribute_value
),

shares as (
    select
        persona_id,
        attribute,
        attribute_value,
        customers,
        customers / sum(customers) over (partition by persona_id, attribute) as share_in_persona,
        sum(customers) over (partition by attribute, attribute_value)
        / sum(customers) over (partition by attribute) as share_overall
    from persona_counts
),

final as (
    select
        *,
        share_in_persona / share_overall as lift
    from shares
)

select * from final
