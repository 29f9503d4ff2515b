-- one row per scope, segment, from and to touchpoint;
-- key: scope, segment, from_touchpoint, to_touchpoint
-- Journey scope: consecutive events of one customer across sessions; session scope: consecutive
-- events within one session. '(start)' and '(end)' are nodes. probability is the share of
-- transitions out of from_touchpoint in the same scope and segment. This model holds the 'all'
-- segment; the pipeline adds the other segments (segment = '<segment_type>:<segment_value>') once
-- personas and churn state exist (sql/intermediate/int_segment_transitions.sql).
with

edges as (
    select * from int_transition_edges
),

final as (
    select
        scope,
        'all' as segment,
        from_touchpoint,
        to_touchpoint,
        transition_count,
        customer_count,
        transition_count / sum(transition_count) over (partition by scope, from_touchpoint)
            as probability,
        median_seconds,
        'all' as segment_type,
        'all' as segment_value
    from edges
)

select * from final
