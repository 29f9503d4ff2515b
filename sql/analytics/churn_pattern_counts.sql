-- one row per pattern found (one row with a null pattern when none is); key: pattern
-- Per pattern (cjm.churn.patterns.churn_patterns): the customers having it and the churners among
-- them, beside the population: customers with at least cjm_pattern_min_length touchpoints in
-- their tail (who could have any pattern) and the churners among them. Reads tails (from
-- churn_pattern_tails) and tail_patterns over them.
with

tails as (
    select * from tails
),

tail_patterns as (
    select * from tail_patterns
),

population as (
    select
        count(*) as n_customers,
        count(*) filter (where is_churned) as n_churned
    from tails
    where len(seq) >= getvariable('cjm_pattern_min_length')
),

counts as (
    select
        k.pattern,
        any_value(k.gram_length)::bigint as length,
        any_value(k.is_contiguous) as is_contiguous,
        count(*)::bigint as customer_count,
        count(*) filter (where tail_patterns.is_churned)::bigint as churned_count
    from tail_patterns
    group by k.pattern
),

final as (
    select
        population.n_customers,
        population.n_churned,
        counts.*
    from population
    left join counts on true
)

select * from final
