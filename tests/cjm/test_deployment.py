"""The failure automation and the concurrency rule, as Prefect reads them."""

from __future__ import annotations

import uuid

import pytest

from cjm.config import ConfigError
from cjm.deployment import (
    concurrency_limit,
    failure_automation,
    install_failure_automation,
)


def test_failure_automation_is_a_valid_prefect_automation_for_one_deployment():
    from prefect.events.schemas.automations import AutomationCore

    deployment_id, block_id = str(uuid.uuid4()), str(uuid.uuid4())
    automation = AutomationCore.model_validate(
        failure_automation("cjm-journeys/scheduled", deployment_id, block_id)
    )
    assert automation.name == "cjm-journeys/scheduled: notify on failure"
    assert automation.trigger.expect == {
        "prefect.flow-run.Failed",
        "prefect.flow-run.Crashed",
        "prefect.flow-run.TimedOut",
    }
    related = automation.trigger.match_related
    assert related["prefect.resource.id"] == [f"prefect.deployment.{deployment_id}"]
    assert automation.trigger.posture == "Reactive" and automation.trigger.threshold == 1
    (action,) = automation.actions
    assert action.type == "send-notification" and str(action.block_document_id) == block_id
    assert "{{ flow_run.state.name }}" in action.body


def test_concurrency_limit_is_one_run_queued_not_cancelled():
    limit = concurrency_limit()
    assert limit.limit == 1 and limit.collision_strategy.value == "ENQUEUE"


def test_a_block_without_its_type_is_refused_before_the_server_is_asked():
    with pytest.raises(ConfigError, match="TYPE-SLUG/NAME"):
        install_failure_automation(client=None, deployment_name="cjm-journeys/x", block="ops")
