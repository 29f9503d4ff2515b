-- one row per input row that parsed into fields; key: source_file, source_row
-- Renames, trims and casts the text landed by cjm.build.ingest; values a Parquet file already held
-- in the canonical type (typed_*) are taken as they are; cjm_clean_text (cjm.build.parameters)
-- trims text and makes empty text null. Times become UTC: epoch numbers
-- (seconds, milliseconds or microseconds by magnitude), ISO 8601 with `Z` or an offset, and naive
-- times read in the configured timezone (a non-existent local time moves forward, an ambiguous one
-- takes standard time).
with

source as (
    select * from raw_events
),

trimmed as (
    select
        source_file,
        source_row,
        properties,
        nested_columns,
        cjm_clean_text(event_id) as source_event_id,
        cjm_clean_text(customer_id) as customer_id,
        cjm_clean_text(anonymous_id) as anonymous_id,
        cjm_clean_text(event_time) as event_time_text,
        cjm_clean_text(touchpoint) as touchpoint,
        lower(cjm_clean_text(channel)) as channel,
        cjm_clean_text(revenue) as revenue_text,
        cjm_clean_text(sentiment) as sentiment_text,
        typed_event_time,
        typed_revenue,
        typed_sentiment
    from source
),

-- A typed time within years 1-9999 is used as it is; any other typed time is parsed from its
-- text as if it had been landed as text, so only the parse of ordinary values is skipped.
parse_input as (
    select
        *,
        case
            when
                typed_event_time
                between timestamptz '0001-01-01 00:00:00+00'
                and timestamptz '9999-12-31 23:59:59.999999+00'
                then null
            else coalesce(event_time_text, cast(typed_event_time as varchar))
        end as event_time_to_parse
    from trimmed
),

typed as (
    select
        * exclude (event_time_to_parse),
        case
            when event_time_to_parse is null then typed_event_time
            when regexp_full_match(event_time_to_parse, '[+-]?[0-9]+(\.[0-9]+)?')
                then
                    case
                        when abs(try_cast(event_time_to_parse as double)) < 1e11
                            then to_timestamp(try_cast(event_time_to_parse as double))
                        when abs(try_cast(event_time_to_parse as double)) < 1e14
                            then to_timestamp(try_cast(event_time_to_parse as double) / 1e3)
                        else to_timestamp(try_cast(event_time_to_parse as double) / 1e6)
                    end
            when
                regexp_matches(
                    event_time_to_parse,
                    '[0-9]:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)? ?([zZ]|[+-][0-9]{2}(:?[0-9]{2})?)$'
                )
                then try_cast(event_time_to_parse as timestamptz)
            else
                timezone(
                    getvariable('cjm_timezone'),
                    try_cast(event_time_to_parse as timestamp)
                )
        end as event_time,
        coalesce(typed_revenue, try_cast(revenue_text as double)) as revenue,
        coalesce(typed_sentiment, try_cast(sentiment_text as double)) as sentiment_value
    from parse_input
),

scaled as (
    select
        * exclude (sentiment_value),
        case
            when getvariable('cjm_sentiment_low') is null then sentiment_value
            else
                (sentiment_value - getvariable('cjm_sentiment_low'))
                / (getvariable('cjm_sentiment_high') - getvariable('cjm_sentiment_low'))
                * 2
                - 1
        end as sentiment
    from typed
)

select * from scaled
