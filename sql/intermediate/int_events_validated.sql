-- one row per input row that parsed into fields; key: source_file, source_row
-- Names every reason a row cannot be used; rows with no reason are valid.
with

staged as (
    select * from stg_events
),

checked as (
    select
        *,
        concat_ws(
            '; ',
            case
                when customer_id is null and anonymous_id is null then 'missing_customer_id'
            end,
            case
                when event_time_text is null and typed_event_time is null
                    then 'missing_event_time'
            end,
            case
                when
                    (event_time_text is not null or typed_event_time is not null)
                    and event_time is null
                    then 'invalid_event_time'
            end,
            case when touchpoint is null then 'missing_touchpoint' end,
            case
                when revenue_text is not null and revenue is null then 'invalid_revenue'
            end,
            case
                when sentiment_text is not null and sentiment is null then 'invalid_sentiment'
            end,
            case
                when sentiment < -1 or sentiment > 1 then 'sentiment_out_of_range'
            end
        ) as rejection_reason
    from staged
),

labelled as (
    select
        * exclude (rejection_reason),
        nullif(rejection_reason, '') as rejection_reason,
        rejection_reason = '' as is_valid
    from checked
)

select * from labelled
