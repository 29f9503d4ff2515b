"""The cjm Prefect flow: event files in, a published journey database out."""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact
from prefect.cache_policies import NO_CACHE

from cjm import steps
from cjm.config import Config
from cjm.ingest import FileLoad, discover_files
from cjm.publish import build_path_for, discard, publish, run_lock
from cjm.runs import RunRecord, new_run


def _lap(started: float) -> float:
    return round(time.perf_counter() - started, 3)


def _progress(message: str) -> None:
    get_run_logger().info(message)


@task(name="discover-files", cache_policy=NO_CACHE)
def discover_files_task(events: str) -> list[Path]:
    """Resolve the events argument into files."""
    return discover_files(events)


@task(name="load-events", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def load_events_task(build_path: Path, files: list[Path], config: Config) -> list[FileLoad]:
    """Land the event files in the build database."""
    return steps.load_events(build_path, files, config, _progress)


@task(name="build-journeys", cache_policy=NO_CACHE)
def build_journeys_task(build_path: Path, config: Config) -> dict:
    """Build events, sessions, journeys and transitions."""
    return steps.build_journeys(build_path, config, _progress)


@task(name="build-personas", cache_policy=NO_CACHE)
def build_personas_task(build_path: Path, config: Config) -> dict:
    """Cluster customers into personas."""
    return steps.build_personas(build_path, config, _progress)


@task(name="build-insights", cache_policy=NO_CACHE)
def build_insights_task(build_path: Path, config: Config) -> dict:
    """Touchpoint insights: lifts, removal effect, roles."""
    return steps.build_insights(build_path, config, _progress)


@task(name="score-churn", cache_policy=NO_CACHE)
def score_churn_task(build_path: Path, config: Config) -> dict:
    """Train the churn model, score active customers, find churn patterns."""
    return steps.score_churn(build_path, config, _progress)


@task(name="finish-run", cache_policy=NO_CACHE)
def finish_run_task(build_path: Path, record: RunRecord, db_path: Path) -> RunRecord:
    """Record the run in pipeline_runs."""
    return steps.finish_run(build_path, record, db_path)


@task(name="publish", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def publish_task(build_path: Path, db_path: Path) -> None:
    """Swap the new database in for the published one."""
    publish(build_path, db_path)


@task(name="write-report", cache_policy=NO_CACHE)
def write_report_task(db_path: Path) -> Path | None:
    """Write the journey map beside the published database and link it from the run."""
    try:
        report = steps.write_report(db_path)
    except Exception as exc:  # the database is already published: a report must not fail the run
        get_run_logger().error(f"journey map not written: {exc!r}")
        return None
    create_link_artifact(
        key="journey-map",
        link=report.as_uri(),
        link_text=report.name,
        description=f"Journey map of {db_path.name} (self-contained HTML, opens offline)",
    )
    return report


@flow(name="cjm-journeys", log_prints=True)
def journey_flow(events: str, db: str, config: Config | None = None) -> dict:
    """Run the whole pipeline on `events` and publish the result to `db`."""
    config = config or Config()
    db_path = Path(db).resolve()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    record = new_run(db_path, config.model_dump(mode="json"))
    files = discover_files_task(events)
    record.input_files = [str(f) for f in files]
    with run_lock(db_path):
        build_path = build_path_for(db_path, record.run_id)
        discard(build_path)
        try:
            clock = time.perf_counter()
            load_events_task(build_path, files, config)
            record.stage_seconds["load_events"] = _lap(clock)
            clock = time.perf_counter()
            record.stage_seconds.update(build_journeys_task(build_path, config))
            record.stage_seconds["build_journeys"] = _lap(clock)
            clock = time.perf_counter()
            persona_summary = build_personas_task(build_path, config)
            record.stage_seconds["build_personas"] = _lap(clock)
            clock = time.perf_counter()
            build_insights_task(build_path, config)
            record.stage_seconds["build_insights"] = _lap(clock)
            clock = time.perf_counter()
            churn_summary = score_churn_task(build_path, config)
            record.stage_seconds["score_churn"] = _lap(clock)
            record.counts.update(persona_summary.get("counts", {}))
            record.counts.update(churn_summary.get("counts", {}))
            record.notes += persona_summary.get("notes", []) + churn_summary.get("notes", [])
            record = finish_run_task(build_path, record, db_path)
            publish_task(build_path, db_path)
        except BaseException:
            discard(build_path)
            raise
        report = write_report_task(db_path)
    return {
        "run_id": record.run_id,
        "db_path": str(db_path),
        "files": record.file_counts,
        "rows_read": record.rows_read,
        "rows_accepted": record.rows_accepted,
        "rows_duplicate": record.rows_duplicate,
        "rows_rejected": record.rows_rejected,
        "counts": record.counts,
        "notes": record.notes,
        "report_path": str(report) if report else None,
    }
