-- one row per customer in scope seen by cjm_churn_as_of; key: customer_id
-- What scoring a customer needs (cjm.churn.batches): the model's features, the BG/NBD inputs,
-- the churn state, the last contact and the persona. The relations it reads are the other churn
-- queries over the same customers, composed by cjm.churn.queries.
with

features as (
    select * from customer_features
),

churn_features as (
    select * from churn_features
),

activity as (
    select * from activity_summary
),

states as (
    select * from churn_state
),

personas as (
    select * from customer_personas
),

last_contact as (
    select
        customer_id,
        arg_max(touchpoint, (event_time, event_index)) as last_touchpoint,
        arg_max(channel, (event_time, event_index)) as last_channel
    from scoped_events
    where event_time <= getvariable('cjm_churn_as_of')
    group by customer_id
),

final as (
    select
        features.*,
        churn_features.* exclude (customer_id),
        activity.x as _bgnbd_x,
        activity.t_x as _bgnbd_t_x,
        activity."T" as "_bgnbd_T",  -- noqa: RF06
        coalesce(states.churn_reason = 'exit_touchpoint', false)::double as is_exited,
        case
            when states.churn_reason = 'exit_touchpoint' then 'exited'
            when states.is_churned then 'lapsed'
            else 'active'
        end as customer_state,
        states.last_seen_at,
        last_contact.last_touchpoint,
        last_contact.last_channel,
        personas.persona_id as _persona_id
    from features
    inner join states on features.customer_id = states.customer_id
    left join churn_features on features.customer_id = churn_features.customer_id
    left join activity on features.customer_id = activity.customer_id
    left join last_contact on features.customer_id = last_contact.customer_id
    left join personas on features.customer_id = personas.customer_id
)

select * from final
