"""The cjm Prefect flow: event files in, a published journey database out."""

from __future__ import annotations

import os
import time
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from cjm import steps
from cjm.config import Config
from cjm.ingest import FileLoad, discover_files
from cjm.manifest import LoadPlan
from cjm.publish import build_path_for, discard, discard_stale_builds, publish, run_lock
from cjm.runs import RunRecord, new_run


def _lap(started: float) -> float:
    return round(time.perf_counter() - started, 3)


def _progress(message: str) -> None:
    get_run_logger().info(message)
    _test_hold(message)


def _test_hold(message: str) -> None:
    """Test hook: park the run at the progress message that starts with $CJM_TEST_HOLD_AT.

    Only the crash-safety tests set it, to kill -9 or race a run at a known stage.
    """
    stage = os.environ.get("CJM_TEST_HOLD_AT")
    if stage and message.startswith(stage):
        # Straight to the file descriptor: flow-level print capture must not swallow it.
        os.write(2, f"cjm test hold: {message}\n".encode())
        time.sleep(600)


@task(name="discover-files", cache_policy=NO_CACHE)
def discover_files_task(events: str) -> list[Path]:
    """Resolve the events argument into files."""
    return discover_files(events)


@task(name="plan-load", cache_policy=NO_CACHE)
def plan_load_task(
    db_path: Path, files: list[Path], config: Config, full_refresh: bool, run_id: str
) -> LoadPlan:
    """Compare the files with the published manifest: load all, only new ones, or nothing."""
    return steps.plan_load(db_path, files, config, full_refresh, run_id)


@task(name="reuse-published", cache_policy=NO_CACHE)
def reuse_published_task(build_path: Path, db_path: Path) -> None:
    """Nothing new to load: the build is a copy of the published file."""
    steps.reuse_published(build_path, db_path)


@task(name="load-events", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def load_events_task(
    build_path: Path, files: list[Path], config: Config, plan: LoadPlan
) -> list[FileLoad]:
    """Land the plan's event files in the build database."""
    return steps.load_events(build_path, files, config, _progress, plan)


@task(name="build-journeys", cache_policy=NO_CACHE)
def build_journeys_task(build_path: Path, config: Config) -> dict:
    """Build events, sessions, journeys and transitions."""
    return steps.build_journeys(build_path, config, _progress)


@task(name="build-personas", cache_policy=NO_CACHE)
def build_personas_task(build_path: Path, config: Config, db_path: Path, run_id: str) -> dict:
    """Cluster customers into personas, keeping the published run's persona ids."""
    return steps.build_personas(build_path, config, _progress, db_path, run_id)


@task(name="build-persona-insights", cache_policy=NO_CACHE)
def build_persona_insights_task(build_path: Path, config: Config) -> dict:
    """Touchpoint insights within each persona."""
    return steps.build_persona_insights(build_path, config, _progress)


@task(name="build-insights", cache_policy=NO_CACHE)
def build_insights_task(build_path: Path, config: Config) -> dict:
    """Touchpoint insights: lifts, removal effect, roles."""
    return steps.build_insights(build_path, config, _progress)


@task(name="build-paths", cache_policy=NO_CACHE)
def build_paths_task(build_path: Path, config: Config) -> dict:
    """Path variants, anchored paths, funnels."""
    return steps.build_paths(build_path, config, _progress)


@task(name="score-churn", cache_policy=NO_CACHE)
def score_churn_task(build_path: Path, config: Config) -> dict:
    """Train the churn model, score active customers, find churn patterns."""
    return steps.score_churn(build_path, config, _progress)


@task(name="build-graphs", cache_policy=NO_CACHE)
def build_graphs_task(build_path: Path, config: Config) -> dict:
    """Segmented transition graphs, touchpoint graph metrics and cycles."""
    return steps.build_graphs(build_path, config, _progress)


@task(name="track-transition-changes", cache_policy=NO_CACHE)
def track_transition_changes_task(
    build_path: Path, config: Config, db_path: Path, run_id: str
) -> dict:
    """Transition history and significant changes since the previously published run."""
    return steps.track_transition_changes(build_path, config, db_path, run_id, _progress)


@task(name="finish-run", cache_policy=NO_CACHE)
def finish_run_task(build_path: Path, record: RunRecord, db_path: Path) -> RunRecord:
    """Record the run in pipeline_runs."""
    return steps.finish_run(build_path, record, db_path)


@task(name="publish", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def publish_task(build_path: Path, db_path: Path) -> None:
    """Swap the new database in for the published one."""
    publish(build_path, db_path, _progress)


@flow(name="cjm-journeys", log_prints=True)
def journey_flow(
    events: str, db: str, config: Config | None = None, full_refresh: bool = False
) -> dict:
    """Run the pipeline on the new files among `events` (all with full_refresh); publish to `db`."""
    config = config or Config()
    db_path = Path(db).resolve()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    record = new_run(db_path, config.model_dump(mode="json"))
    files = discover_files_task(events)
    record.input_files = [str(f) for f in files]
    with run_lock(db_path):
        build_path = build_path_for(db_path, record.run_id)
        discard_stale_builds(db_path)
        try:
            plan = plan_load_task(db_path, files, config, full_refresh, record.run_id)
            record.load_mode, record.files_loaded = plan.mode, [str(p) for p in plan.files]
            record.notes += plan.notes
            if plan.mode == "unchanged":
                reuse_published_task(build_path, db_path)
                record = finish_run_task(build_path, record, db_path)
                publish_task(build_path, db_path)
                return _summary(record)
            clock = time.perf_counter()
            load_events_task(build_path, files, config, plan)
            record.stage_seconds["load_events"] = _lap(clock)
            clock = time.perf_counter()
            record.stage_seconds.update(build_journeys_task(build_path, config))
            record.stage_seconds["build_journeys"] = _lap(clock)
            clock = time.perf_counter()
            persona_summary = build_personas_task(build_path, config, db_path, record.run_id)
            record.stage_seconds["build_personas"] = _lap(clock)
            clock = time.perf_counter()
            build_persona_insights_task(build_path, config)
            record.stage_seconds["build_persona_insights"] = _lap(clock)
            clock = time.perf_counter()
            build_insights_task(build_path, config)
            record.stage_seconds["build_insights"] = _lap(clock)
            clock = time.perf_counter()
            build_paths_task(build_path, config)
            record.stage_seconds["build_paths"] = _lap(clock)
            clock = time.perf_counter()
            churn_summary = score_churn_task(build_path, config)
            record.stage_seconds["score_churn"] = _lap(clock)
            clock = time.perf_counter()
            graph_summary = build_graphs_task(build_path, config)
            record.stage_seconds["build_graphs"] = _lap(clock)
            clock = time.perf_counter()
            change_summary = track_transition_changes_task(
                build_path, config, db_path, record.run_id
            )
            record.stage_seconds["track_transition_changes"] = _lap(clock)
            record.counts.update(persona_summary.get("counts", {}))
            record.counts.update(churn_summary.get("counts", {}))
            record.notes += persona_summary.get("notes", []) + churn_summary.get("notes", [])
            for summary in (graph_summary, change_summary):
                record.counts.update(summary.get("counts", {}))
                record.notes += summary.get("notes", [])
            record = finish_run_task(build_path, record, db_path)
            publish_task(build_path, db_path)
        except BaseException:
            discard(build_path)
            raise
    return _summary(record)


def _summary(record: RunRecord) -> dict:
    return {
        "run_id": record.run_id,
        "load_mode": record.load_mode,
        "db_path": record.db_path,
        "files": record.file_counts,
        "rows_read": record.rows_read,
        "rows_accepted": record.rows_accepted,
        "rows_duplicate": record.rows_duplicate,
        "rows_rejected": record.rows_rejected,
        "counts": record.counts,
        "notes": record.notes,
    }
