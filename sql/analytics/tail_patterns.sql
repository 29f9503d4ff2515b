-- one row per customer x distinct pattern in their tail; key: customer_id, k.pattern
-- The touchpoint sequences in each customer's tail (cjm.churn.patterns): for each choice of
-- positions of cjm_pattern_positions that fits the tail, the touchpoints there joined by ' > '
-- (contiguous) or ' ... ' (gaps allowed), as a struct k (pattern, gram_length, is_contiguous).
-- The patterns are found within each customer's own tail (a list), so nothing across customers
-- grows with customers times patterns. Reads tails (customer_id, seq and any other columns).
with

tails as (
    select * from tails
),

final as (
    -- the lambdas' parameters (k, i) read as table references to the linter
    -- noqa: disable=RF01,RF03
    select
        tails.* exclude (seq),
        unnest(
            list_distinct(list_transform(
                list_filter(
                    getvariable('cjm_pattern_positions')::struct(
                        idx integer[], gram_length integer, is_contiguous boolean,
                        last_position integer
                    )[],
                    lambda k: len(tails.seq) >= k.last_position
                ),
                lambda k: {
                    'pattern': case
                        when k.is_contiguous
                            then
                                array_to_string(
                                    list_transform(k.idx, lambda i: tails.seq[i]), ' > '
                                )
                        else
                            array_to_string(
                                list_transform(k.idx, lambda i: tails.seq[i]), ' ... '
                            )
                    end,
                    'gram_length': k.gram_length,
                    'is_contiguous': k.is_contiguous
                }
            ))
        ) as k
    from tails
    -- noqa: enable=RF01,RF03
)

select * from final
