-- one row per funnel and step; key: funnel, step_number
-- The configured funnels' steps in order (the variable cjm_funnel_steps, set by
-- cjm.journeys.paths), read by int_funnel_reached, funnel_steps and funnel_dropouts. The published
-- funnel table macros inline this query with their argument in the variable's place
-- (cjm.journeys.paths.PATH_MACROS).
with

configured as (
    select unnest(getvariable('cjm_funnel_steps'), recursive := true)
),

funnel_steps as (
    select
        funnel,
        step_number,
        touchpoint
    from configured
)

select * from funnel_steps
