-- one row per period x scope x scope_value; key: period_start, scope, scope_value
-- Periods are calendar weeks (Monday) or months (kpis.period, variable cjm_kpi_period) in the
-- configured timezone. Scopes: 'all' (scope_value 'all'), 'stage' (customers with an event in that
-- stage in the period) and 'persona' (the customer's persona id). Customer counts take the scope's
-- customers; their conversion is judged on all their events of the period (a conversion event is
-- usually in the purchase stage, so judging it within each stage would leave the others at zero).
-- Event measures (events, revenue, sentiment) take the scope's own events. Churned customers count
-- in the period of churned_at, by persona, and by the stage of their last event (where they left).
-- Intervals are 95%: Wilson's for a rate, Newcombe's hybrid score interval (method 10) for the
-- change of the rate against the previous calendar period of the same scope. A period is partial
-- when the log's first day is after its start or its last day before its end.
with

events as (
    select
        customer_id,
        event_time,
        stage,
        is_conversion,
        is_journey_end,
        revenue,
        sentiment
    from events
),

customer_personas as (
    select
        customer_id,
        cast(persona_id as varchar) as persona_id
    from customer_personas
),

churn_state as (
    select
        customer_id,
        churned_at
    from customer_churn_state
    where is_churned
),

settings as (
    select
        getvariable('cjm_kpi_period') as period,
        getvariable('cjm_timezone') as timezone,
        1.959963984540054 as z
),

periodised as (
    select
        events.*,
        cast(
            date_trunc(settings.period, timezone(settings.timezone, events.event_time)) as date
        ) as period_start
    from events
    cross join settings
),

-- One row per customer x period x stage: the scopes below add these up instead of events.
-- Sums are exact DECIMAL sums, the same to the bit however threads split the rows (sentiment is
-- validated into [-1, 1]; revenue beyond 1e14, NaN or infinite keeps the double sum): the
-- cjm_exact_sum macro (cjm.db.EXACT_AGGREGATES) taken in two steps, as the sums are added again.
customer_stage_periods as (
    select
        customer_id,
        period_start,
        stage,
        count(*) as event_count,
        count(sentiment) as rated_events,
        sum(cast(sentiment as decimal(27, 12))) as sentiment_sum,
        sum(try_cast(revenue as decimal(27, 12))) as exact_revenue,
        sum(revenue) as double_revenue,
        max(abs(revenue)) as largest_revenue,
        bool_or(is_conversion) as has_conversion
    from periodised
    group by customer_id, period_start, stage
),

customer_periods as (
    select
        customer_id,
        period_start,
        bool_or(has_conversion) as has_conversion
    from customer_stage_periods
    group by customer_id, period_start
),

scoped as (
    select
        'all' as scope,
        'all' as scope_value,
        customer_stage_periods.*
    from customer_stage_periods
    union all by name
    select
        'stage' as scope,
        customer_stage_periods.stage as scope_value,
        customer_stage_periods.*
    from customer_stage_periods
    where customer_stage_periods.stage is not null
    union all by name
    select
        'persona' as scope,
        customer_personas.persona_id as scope_value,
        customer_stage_periods.*
    from customer_stage_periods
    inner join customer_personas
        on customer_stage_periods.customer_id = customer_personas.customer_id
),

scope_customers as (
    select distinct
        scope,
        scope_value,
        period_start,
        customer_id
    from scoped
),

customer_counts as (
    select
        scope_customers.scope,
        scope_customers.scope_value,
        scope_customers.period_start,
        count(*) as active_customers,
        count(*) filter (where customer_periods.has_conversion) as converted_customers
    from scope_customers
    inner join customer_periods
        on
            scope_customers.customer_id = customer_periods.customer_id
            and scope_customers.period_start = customer_periods.period_start
    group by scope_customers.scope, scope_customers.scope_value, scope_customers.period_start
),

event_measures as (
    select
        scope,
        scope_value,
        period_start,
        sum(event_count) as event_count,
        sum(rated_events) as rated_events,
        cast(sum(sentiment_sum) as double) / nullif(sum(rated_events), 0) as mean_sentiment,
        case
            when max(largest_revenue) < 1e14 then cast(sum(exact_revenue) as double)
            else sum(double_revenue)
        end as revenue
    from scoped
    group by scope, scope_value, period_start
),

churned as (
    select
        churn_state.customer_id,
        last_events.stage,
        customer_personas.persona_id,
        cast(
            date_trunc(settings.period, timezone(settings.timezone, churn_state.churned_at)) as date
        ) as period_start
    from churn_state
    cross join settings
    left join events as last_events
        on churn_state.customer_id = last_events.customer_id and last_events.is_journey_end
    left join customer_personas on churn_state.customer_id = customer_personas.customer_id
),

churn_counts as (
    select
        'all' as scope,
        'all' as scope_value,
        period_start,
        count(*) as churned_customers
    from churned
    group by period_start
    union all
    select
        'stage' as scope,
        stage as scope_value,
        period_start,
        count(*) as churned_customers
    from churned
    where stage is not null
    group by stage, period_start
    union all
    select
        'persona' as scope,
        persona_id as scope_value,
        period_start,
        count(*) as churned_customers
    from churned
    where persona_id is not null
    group by persona_id, period_start
),

combined as (
    select
        coalesce(customer_counts.scope, churn_counts.scope) as scope,
        coalesce(customer_counts.scope_value, churn_counts.scope_value) as scope_value,
        coalesce(customer_counts.period_start, churn_counts.period_start) as period_start,
        coalesce(customer_counts.active_customers, 0) as active_customers,
        coalesce(customer_counts.converted_customers, 0) as converted_customers,
        coalesce(churn_counts.churned_customers, 0) as churned_customers
    from customer_counts
    full outer join churn_counts
        on
            customer_counts.scope = churn_counts.scope
            and customer_counts.scope_value = churn_counts.scope_value
            and customer_counts.period_start = churn_counts.period_start
),

rated as (
    select
        combined.*,
        event_measures.event_count,
        event_measures.rated_events,
        event_measures.mean_sentiment,
        event_measures.revenue,
        combined.converted_customers / nullif(combined.active_customers, 0) as conversion_rate,
        settings.z * settings.z / nullif(combined.active_customers, 0) as z2_n,
        cast(
            combined.period_start
            + case when settings.period = 'week' then interval 7 day else interval 1 month end
            as date
        ) as period_end,
        cast(
            combined.period_start
            - case when settings.period = 'week' then interval 7 day else interval 1 month end
            as date
        ) as previous_start
    from combined
    cross join settings
    left join event_measures
        on
            combined.scope = event_measures.scope
            and combined.scope_value = event_measures.scope_value
            and combined.period_start = event_measures.period_start
),

intervals as (
    select
        *,
        (conversion_rate + z2_n / 2) / (1 + z2_n)
        - sqrt(conversion_rate * (1 - conversion_rate) * z2_n + z2_n * z2_n / 4)
        / (1 + z2_n) as conversion_rate_low,
        (conversion_rate + z2_n / 2) / (1 + z2_n)
        + sqrt(conversion_rate * (1 - conversion_rate) * z2_n + z2_n * z2_n / 4)
        / (1 + z2_n) as conversion_rate_high
    from rated
),

log_span as (
    select
        cast(timezone(settings.timezone, min(events.event_time)) as date) as first_day,
        cast(timezone(settings.timezone, max(events.event_time)) as date) as last_day
    from events
    cross join settings
    group by settings.timezone
),

compared as (
    select
        current_period.*,
        previous_period.conversion_rate as previous_conversion_rate,
        current_period.conversion_rate - previous_period.conversion_rate as change,
        sqrt(
            power(current_period.conversion_rate - current_period.conversion_rate_low, 2)
            + power(previous_period.conversion_rate_high - previous_period.conversion_rate, 2)
        ) as change_below,
        sqrt(
            power(current_period.conversion_rate_high - current_period.conversion_rate, 2)
            + power(previous_period.conversion_rate - previous_period.conversion_rate_low, 2)
        ) as change_above,
        current_period.period_start < log_span.first_day
        or current_period.period_end > log_span.last_day + 1 as is_partial
    from intervals as current_period
    cross join log_span
    left join intervals as previous_period
        on
            current_period.scope = previous_period.scope
            and current_period.scope_value = previous_period.scope_value
            and current_period.previous_start = previous_period.period_start
),

final as (
    select
        settings.period,
        compared.period_start,
        compared.period_end,
        compared.scope,
        compared.scope_value,
        compared.active_customers,
        compared.converted_customers,
        compared.conversion_rate,
        compared.conversion_rate_low,
        compared.conversion_rate_high,
        compared.churned_customers,
        cast(coalesce(compared.event_count, 0) as bigint) as event_count,
        cast(coalesce(compared.rated_events, 0) as bigint) as rated_events,
        compared.mean_sentiment,
        compared.revenue,
        compared.previous_conversion_rate,
        compared.change as conversion_rate_change,
        compared.change - compared.change_below as conversion_rate_change_low,
        compared.change + compared.change_above as conversion_rate_change_high,
        compared.is_partial
    from compared
    cross join settings
)

select * from final
