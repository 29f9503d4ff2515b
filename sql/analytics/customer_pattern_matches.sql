-- one row per customer whose tail holds a pattern of cjm_pattern_table; key: customer_id
-- The highest-ranked pattern of each customer (cjm.churn.patterns.customer_patterns): their own
-- patterns are looked up by name in the table cjm_pattern_table (pattern_rank, pattern, lift), a
-- hash join, so the work grows with customers, not customers x patterns. Reads tail_patterns.
with

tail_patterns as (
    select * from tail_patterns
),

ranked_patterns as (
    select * from query_table(getvariable('cjm_pattern_table'))
),

found as (
    select
        tail_patterns.customer_id,
        k.pattern
    from tail_patterns
),

final as (
    select
        found.customer_id,
        arg_min(ranked_patterns.pattern, ranked_patterns.pattern_rank) as pattern,
        arg_min(ranked_patterns.lift, ranked_patterns.pattern_rank) as lift
    from found
    inner join ranked_patterns on found.pattern = ranked_patterns.pattern
    group by found.customer_id
)

select * from final
