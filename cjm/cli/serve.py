"""`cjm serve` (the scheduled deployment) and `cjm notify-on-failure` (its failure alerts)."""

from __future__ import annotations

import argparse
from pathlib import Path

from cjm.cli.output import say
from cjm.cli.pipeline import use_prefect_defaults
from cjm.cli.version import code_version


def cmd_serve(args: argparse.Namespace) -> int:
    """Register the scheduled deployment with a Prefect server and run its flow runs."""
    from cjm.config import ConfigError, load_config

    config = load_config(Path(args.config) if args.config else None)
    events = args.events or config.schedule.events
    if not events:
        raise ConfigError(
            "cjm serve needs the events to load on every run: give --events PATH_OR_GLOB or "
            "set schedule.events in the config file"
        )
    from prefect.settings import PREFECT_API_URL

    api_url = PREFECT_API_URL.value()
    if not api_url:
        raise ConfigError(
            "cjm serve needs a running Prefect server, and PREFECT_API_URL is not set. Start one "
            "with `prefect server start --host 127.0.0.1`, then in another shell "
            "`export PREFECT_API_URL=http://127.0.0.1:4200/api` and run `cjm serve` again"
        )
    use_prefect_defaults()
    from prefect import serve

    deployment, events, db = _deployment(config, api_url, events, Path(args.db), args.name)
    say(f"Serving deployment cjm-journeys/{args.name} on {api_url}")
    say(f"  schedule: {config.schedule.cron} ({config.timezone}); events: {events}; db: {db}")
    say(f"  run it now: prefect deployment run 'cjm-journeys/{args.name}'")
    timeout = config.flow_timeout_seconds
    limit = "no time limit" if timeout is None else f"a run fails after {timeout:g} s"
    say(f"  one run at a time, later runs queue; {limit} (flow_timeout_seconds)")
    # The server queues runs beyond the deployment's limit (AwaitingConcurrencySlot), across
    # every process serving it, so this runner needs no limit of its own.
    serve(deployment)
    return 0


def _deployment(config, api_url: str, events: str, db_path: Path, name: str) -> tuple:
    """The flow's deployment on the config's schedule, with the absolute events and db it runs."""
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    from cjm.config import ConfigError
    from cjm.deployment import concurrency_limit
    from cjm.flows import journey_flow

    try:
        schedule = Cron(config.schedule.cron, timezone=config.timezone)
    except ValueError as exc:
        raise ConfigError(f"schedule.cron {config.schedule.cron!r}: {exc}") from None
    _check_api(api_url)
    # Absolute paths: scheduled runs must not depend on the directory a run starts in.
    events = _absolute_events(events)
    db = str(db_path.resolve())
    version = code_version()
    deployment = journey_flow.to_deployment(
        name=name,
        schedule=schedule,
        parameters={
            "events": events,
            "db": db,
            "config": config.model_dump(mode="json"),
            "code_version": version,
        },
        description=f"cjm pipeline: {events} -> {db}",
        version=version,
        entrypoint_type=EntrypointType.MODULE_PATH,
        concurrency_limit=concurrency_limit(),
    )
    return deployment, events, db


def cmd_notify_on_failure(args: argparse.Namespace) -> int:
    """Create the automation that notifies through a block when a deployment's run fails."""
    from cjm.config import ConfigError

    if not _api_url():
        raise ConfigError("needs PREFECT_API_URL: the Prefect server the deployment is on")
    from prefect.client.orchestration import get_client

    from cjm.deployment import install_failure_automation

    _check_api(_api_url())
    with get_client(sync_client=True) as client:
        automation_id, definition = install_failure_automation(client, args.deployment, args.block)
    states = ", ".join(e.rsplit(".", 1)[1] for e in definition["trigger"]["expect"])
    say(
        f"Automation {definition['name']!r} ({automation_id}): on {states}, notify via {args.block}"
    )
    return 0


def _api_url() -> str | None:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def _check_api(api_url: str) -> None:
    """Fail in one line when the Prefect API does not answer, before anything registers."""
    from prefect.client.orchestration import get_client

    from cjm.config import ConfigError

    with get_client(sync_client=True) as client:
        error = client.api_healthcheck()
    if error is not None:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(
            f"cannot reach the Prefect API at {api_url} ({reason}): start the server, or point "
            "PREFECT_API_URL at a running one"
        )


def _absolute_events(events: str) -> str:
    """Make a relative events path or glob absolute (relative to the current directory)."""
    path = Path(events).expanduser()
    return str(path if path.is_absolute() else Path.cwd() / path)
