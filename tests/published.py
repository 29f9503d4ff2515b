"""Publish an event log through every pipeline step without Prefect, for tests of the readers."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from cjm import steps
from cjm.build import manifest
from cjm.build.files import discover_files
from cjm.build.publish import build_path_for, publish
from cjm.build.runs import new_run
from cjm.config import Config
from cjm.stages import STAGES


def publish_log(events: Path | str, db: Path, config: Config) -> Path:
    """Run the stages the flow runs (cjm.stages.STAGES), in its order, and publish `db` (history
    carried forward); without the flow's load plan (a full load), guard rails and report."""
    record = new_run(db, config.model_dump(mode="json"))
    files = discover_files(events)
    record.input_files = [str(f) for f in files]
    build = build_path_for(db, record.run_id)
    steps.load_events(build, files, config)
    steps.build_journeys(build, config)
    for stage in STAGES:
        steps.add_summary(record, stage.run(build, config, db, record.run_id))
    steps.finish_run(build, record, db)
    publish(build, db)
    return db


def publish_journeys(
    events: Path | str,
    db: Path,
    config: Config,
    full_refresh: bool = False,
    clock: datetime | None = None,
) -> manifest.LoadPlan:
    """Load what the plan against `db` says (new files, or all with full_refresh), build the
    journeys only (no personas or churn), and publish; return the plan."""
    record = new_run(db, config.model_dump(mode="json"))
    files = discover_files(events)
    plan = steps.plan_load(db, files, config, full_refresh, record.run_id)
    record.load_mode, record.files_loaded = plan.mode, [str(p) for p in plan.files]
    build = build_path_for(db, record.run_id)
    steps.load_events(build, files, config, plan=plan, clock=clock)
    steps.build_journeys(build, config)
    steps.finish_run(build, record, db)
    publish(build, db)
    return plan
