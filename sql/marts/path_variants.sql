-- one row per variant kind and path; key: variant_kind, path
-- The most common journeys by their first `cjm_path_prefix_steps` touchpoints, as logged ('raw')
-- and with consecutive repeats collapsed ('collapsed', a > a > b is a > b), the top
-- `cjm_path_top_variants` per kind plus one '(other)' row for the rest, so that customer_count
-- adds up to every customer and cumulative_share ends at 1.
with

-- Not materialised, as marked below.
events as not materialized (
    select
        customer_id,
        event_index,
        touchpoint,
        previous_touchpoint
    from events
),

journeys as (
    select
        customer_id,
        is_converted
    from journeys
),

churn_state as (
    select
        customer_id,
        is_churned
    from customer_churn_state
),

-- A repeat is an event at the touchpoint of the journey's previous event (events knows it, so no
-- window runs here). Not materialised: both kinds below scan events again, rather than DuckDB
-- buffering every event.
marked as not materialized (
    select
        customer_id,
        event_index,
        touchpoint,
        coalesce(touchpoint = previous_touchpoint, false) as is_repeat
    from events
),

steps as (
    select
        'raw' as variant_kind,
        customer_id,
        event_index,
        touchpoint
    from marked
    union all
    select
        'collapsed' as variant_kind,
        customer_id,
        event_index,
        touchpoint
    from marked
    where not is_repeat
),

numbered as (
    select
        *,
        row_number() over (
            partition by variant_kind, customer_id order by event_index
        ) as step_number
    from steps
),

prefixes as (
    select
        variant_kind,
        customer_id,
        string_agg(touchpoint, ' > ' order by step_number) filter (
            where step_number <= getvariable('cjm_path_prefix_steps')
        ) as path,
        count(*) as journey_steps
    from numbered
    group by variant_kind, customer_id
),

customer_paths as (
    select
        prefixes.variant_kind,
        prefixes.path,
        prefixes.customer_id,
        journeys.is_converted,
        churn_state.is_churned,
        least(prefixes.journey_steps, getvariable('cjm_path_prefix_steps')) as path_length,
        prefixes.journey_steps <= getvariable('cjm_path_prefix_steps') as is_whole_journey
    from prefixes
    inner join journeys on prefixes.customer_id = journeys.customer_id
    left join churn_state on prefixes.customer_id = churn_state.customer_id
),

variants as (
    select
        variant_kind,
        path,
        any_value(path_length) as path_length,
        count(*) as customer_count,
        count(*) filter (where is_whole_journey) as whole_journey_count,
        count(*) filter (where is_converted) as converted_count,
        count(*) filter (where is_churned) as churned_count,
        count(is_churned) as churn_known_count
    from customer_paths
    group by variant_kind, path
),

ranked as (
    select
        *,
        row_number() over (
            partition by variant_kind order by customer_count desc, path asc
        ) as variant_rank
    from variants
),

top_and_other as (
    select
        variant_kind,
        variant_rank,
        path,
        path_length,
        1 as variant_count,
        customer_count,
        whole_journey_count,
        converted_count,
        churned_count,
        churn_known_count
    from ranked
    where variant_rank <= getvariable('cjm_path_top_variants')
    union all
    select
        variant_kind,
        getvariable('cjm_path_top_variants') + 1 as variant_rank,
        '(other)' as path,
        null as path_length,
        count(*) as variant_count,
        sum(customer_count) as customer_count,
        sum(whole_journey_count) as whole_journey_count,
        sum(converted_count) as converted_count,
        sum(churned_count) as churned_count,
        sum(churn_known_count) as churn_known_count
    from ranked
    where variant_rank > getvariable('cjm_path_top_variants')
    group by variant_kind
),

final as (
    select
        variant_kind,
        cast(variant_rank as bigint) as variant_rank,
        path,
        cast(path_length as bigint) as path_length,
        cast(variant_count as bigint) as variant_count,
        cast(customer_count as bigint) as customer_count,
        customer_count / sum(customer_count) over (partition by variant_kind) as share,
        sum(customer_count) over (
            partition by variant_kind order by variant_rank
        ) / sum(customer_count) over (partition by variant_kind) as cumulative_share,
        cast(whole_journey_count as bigint) as whole_journey_count,
        converted_count / customer_count as conversion_rate,
        churned_count / nullif(churn_known_count, 0) as churn_rate
    from top_and_other
)

select * from final
