-- one row per input row that parsed into fields; key: source_file, source_row
-- Names every reason a row cannot be used; rows with no reason are valid. A valid row gets the id
-- that identifies it: its event_id, or without one a hash of its content. A rejected row keeps its
-- source values as JSON in `raw` for rejected_events. Plausibility: event times inside the
-- configured window (cjm_earliest_event_time, and cjm_latest_event_time from the run's clock when
-- it is known), finite revenue and sentiment, and ids, touchpoints and channels that were scalars
-- in the file (nested_columns, set by cjm.build.ingest for JSON objects and arrays). A view where
-- every event time arrives typed, a table where any comes as text (cjm.build.models.VALIDATED).
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
                when
                    isfinite(sentiment) and (sentiment < -1 or sentiment > 1)
                    then 'sentiment_out_of_range'
            end,
            case
                when
                    event_time < getvariable('cjm_earliest_event_time')
                    or event_time > getvariable('cjm_latest_event_time')
                    then 'event_time_out_of_range'
            end,
            case when not isfinite(revenue) then 'revenue_not_finite' end,
            case when not isfinite(sentiment) then 'sentiment_not_finite' end,
            case
                when list_contains(nested_columns, 'customer_id') then 'customer_id_not_scalar'
            end,
            case
                when list_contains(nested_columns, 'anonymous_id') then 'anonymous_id_not_scalar'
            end,
            case when list_contains(nested_columns, 'event_id') then 'event_id_not_scalar' end,
            case
                when list_contains(nested_columns, 'touchpoint') then 'touchpoint_not_scalar'
            end,
            case when list_contains(nested_columns, 'channel') then 'channel_not_scalar' end
        ) as rejection_reason
    from staged
),

labelled as (
    select
        * exclude (rejection_reason),
        nullif(rejection_reason, '') as rejection_reason,
        rejection_reason = '' as is_valid
    from checked
),

identified as (
    select
        source_file,
        source_row,
        customer_id,
        anonymous_id,
        event_time,
        touchpoint,
        channel,
        revenue,
        sentiment,
        properties,
        is_valid,
        rejection_reason,
        case
            when is_valid
                then
                    coalesce(
                        source_event_id,
                        md5(
                            concat_ws(
                                chr(31),
                                coalesce(customer_id, chr(0)),
                                coalesce(anonymous_id, chr(0)),
                                cast(epoch_us(event_time) as varchar),
                                touchpoint,
                                coalesce(channel, chr(0)),
                                coalesce(cast(revenue as varchar), chr(0)),
                                coalesce(cast(sentiment as varchar), chr(0)),
                                coalesce(cast(properties as varchar), chr(0))
                            )
                        )
                    )
        end as event_id,
        case
            when not is_valid
                then
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
                                'sentiment': coalesce(
                                    sentiment_text, cast(typed_sentiment as varchar)
                                ),
                                'properties': properties
                            }
                        ) as varchar
                    )
        end as raw
    from labelled
)

select * from identified
