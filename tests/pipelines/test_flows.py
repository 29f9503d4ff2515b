"""The flows live in cjm.flows; the deployment entrypoint pipelines/journey_flow.py re-exports them,
and the flow has one task per stage of cjm.stages.STAGES."""

from __future__ import annotations

import inspect
import logging

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


def test_a_progress_message_holds_the_run_only_where_a_test_asked(monkeypatch, capfd):
    slept = []
    monkeypatch.setattr(flows, "get_run_logger", lambda: logging.getLogger("cjm-test"))
    monkeypatch.setattr(flows.time, "sleep", slept.append)
    monkeypatch.delenv(flows.HOLD_AT_VARIABLE, raising=False)
    flows._progress("building events")
    monkeypatch.setenv(flows.HOLD_AT_VARIABLE, "clustering")
    flows._progress("building events")
    assert slept == []
    flows._progress("clustering 120 customers into personas")
    assert slept == [flows.HOLD_SECONDS]
    assert "cjm test hold: clustering 120 customers" in capfd.readouterr().err


class _State:
    def __init__(self, error: BaseException):
        self.error = error

    def result(self, raise_on_failure: bool):
        return self.error


def test_load_events_retries_io_failures_but_not_a_users_error():
    from cjm.build.files import IngestError
    from cjm.build.manifest import IncrementalLoadError
    from cjm.config import ConfigError

    for error in (IngestError("x.csv"), ConfigError("bad"), IncrementalLoadError("moved")):
        assert not flows._retry_unless_bad_input(None, None, _State(error)), error
    assert flows._retry_unless_bad_input(None, None, _State(OSError("disk")))
