-- one row per rejected input row; key: source_file, source_row
with

unparseable as (
    select * from raw_rejects
),

invalid as (
    select * from int_events_validated
    where not is_valid
),

invalid_rows as (
    select
        source_file,
        source_row,
        rejection_reason as reason,
        cast(
            to_json(
                {
                    'event_id': source_event_id,
                    'customer_id': customer_id,
                    'anonymous_id': anonymous_id,
                    'event_time': coalesce(
                        event_time_text, cast(typed_event_time as varchar)
                    ),
                    'touchpoint': touchpoint,
                    'channel': channel,
                    'revenue': coalesce(revenue_text, cast(typed_revenue as varchar)),
                    'sentiment': coalesce(sentiment_text, cast(typed_sentiment as varchar)),
                    'properties': properties
                }
            ) as varchar
        ) as raw
    from invalid
),

combined as (
    select
        source_file,
        source_row,
        reason,
        raw
    from unparseable
    union all
    select
        source_file,
        source_row,
        reason,
        raw
    from invalid_rows
),

final as (
    select * from combined
    order by source_file, source_row
)

select * from final
