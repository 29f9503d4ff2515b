"""The flows live in cjm.flows; the deployment entrypoint pipelines/journey_flow.py re-exports them,
and the flow has one task per stage of cjm.stages.STAGES."""

from __future__ import annotations

import inspect

from cjm import flows
from cjm.stages import stage_names


def test_the_entrypoint_re_exports_the_package_flow():
    from pipelines import journey_flow as entrypoint

    assert entrypoint.journey_flow is flows.journey_flow
    assert entrypoint.journey_flow.name == "cjm-journeys"
    assert all(getattr(entrypoint, name) is getattr(flows, name) for name in flows.__all__)


def test_the_flow_keeps_its_parameters():
    # deployments pass these by name
    parameters = list(inspect.signature(flows.journey_flow.fn).parameters)
    assert parameters == ["events", "db", "config", "full_refresh", "code_version", "strict"]


def test_one_task_per_stage_named_as_the_stage():
    assert list(flows.STAGE_TASKS) == stage_names()
    assert [t.name for t in flows.STAGE_TASKS.values()] == [
        name.replace("_", "-") for name in stage_names()
    ]
