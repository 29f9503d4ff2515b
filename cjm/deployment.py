"""What a cjm deployment is on a Prefect server: its queueing rule and its failure notification.

`cjm serve` and prefect.yaml deploy the same flow with the same rule: one run at a time per
deployment, later runs queued (not refused, not run side by side on one published file).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

FLOW_NAME = "cjm-journeys"
CONCURRENCY_LIMIT = 1
COLLISION_STRATEGY = "ENQUEUE"
# Flow-run states that mean a run ended without publishing: TimedOut is the Failed state that
# flow_timeout_seconds gives, Crashed a run whose process died (or was ended past its deadline).
FAILED_STATES = ("Failed", "Crashed", "TimedOut")
NOTIFICATION_SUBJECT = (
    "cjm: run {{ flow_run.name }} of {{ deployment.name }} {{ flow_run.state.name }}"
)
NOTIFICATION_BODY = (
    "cjm flow run {{ flow_run.name }} of deployment {{ deployment.name }} ended "
    "{{ flow_run.state.name }}: {{ flow_run.state.message }}. The published database is the "
    "last successful run's; see the run's logs and pipeline_runs."
)


def concurrency_limit() -> Any:
    """The deployment's concurrency rule as Prefect's ConcurrencyLimitConfig."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    return ConcurrencyLimitConfig(
        limit=CONCURRENCY_LIMIT, collision_strategy=ConcurrencyLimitStrategy(COLLISION_STRATEGY)
    )


def automation_name(deployment_name: str) -> str:
    """The name of the failure automation of a deployment ('cjm-journeys/scheduled')."""
    return f"{deployment_name}: notify on failure"


def failure_automation(deployment_name: str, deployment_id: str, block_document_id: str) -> dict:
    """A Prefect automation (AutomationCore fields): a run of the deployment that fails, crashes
    or times out sends a notification through the block."""
    return {
        "name": automation_name(deployment_name),
        "description": "Sent by cjm when a flow run of this deployment ends without publishing.",
        "enabled": True,
        "trigger": {
            "type": "event",
            "posture": "Reactive",
            "expect": [f"prefect.flow-run.{state}" for state in FAILED_STATES],
            "match": {"prefect.resource.id": "prefect.flow-run.*"},
            "match_related": {"prefect.resource.id": f"prefect.deployment.{deployment_id}"},
            "threshold": 1,
            "within": 0,
        },
        "actions": [
            {
                "type": "send-notification",
                "block_document_id": block_document_id,
                "subject": NOTIFICATION_SUBJECT,
                "body": NOTIFICATION_BODY,
            }
        ],
    }


def install_failure_automation(
    client: SyncPrefectClient, deployment_name: str, block: str
) -> tuple[str, dict]:
    """Create (or replace, by name) the failure automation of a deployment; `block` is a
    notification block's 'type-slug/name'. Returns the automation's id and its definition."""
    from prefect.events.schemas.automations import AutomationCore
    from prefect.exceptions import ObjectNotFound

    from cjm.config import ConfigError

    block_type, _, block_name = block.partition("/")
    if not block_type or not block_name:
        raise ConfigError(f"--block {block!r}: expected TYPE-SLUG/NAME, like slack-webhook/ops")
    try:
        deployment = client.read_deployment_by_name(deployment_name)
    except ObjectNotFound:
        raise ConfigError(
            f"no deployment {deployment_name!r} on this Prefect server: run `cjm serve` or "
            "`prefect deploy` first"
        ) from None
    try:
        document = client.read_block_document_by_name(block_name, block_type)
    except ObjectNotFound:
        raise ConfigError(
            f"no block {block!r} on this Prefect server: create one with `prefect block create "
            f"{block_type}` (or in the UI), then run this again"
        ) from None
    definition = failure_automation(deployment_name, str(deployment.id), str(document.id))
    for existing in client.read_automations_by_name(definition["name"]):
        client.delete_automation(existing.id)
    automation_id = client.create_automation(AutomationCore.model_validate(definition))
    return str(automation_id), definition
