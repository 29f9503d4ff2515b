"""The cjm Prefect flow: event files in, a published journey database out."""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from cjm import steps
from cjm.config import Config, ConfigError
from cjm.ingest import FileLoad, IngestError, discover_files
from cjm.publish import build_path_for, discard, publish, run_lock
from cjm.runs import RunRecord, new_run


def _lap(started: float) -> float:
    return round(time.perf_counter() - started, 3)


def _progress(message: str) -> None:
    get_run_logger().info(message)


def _retry_unless_bad_input(task, task_run, state) -> bool:
    """Retry I/O failures; bad input or configuration fails the same way every time."""
    error = state.result(raise_on_failure=False)
    return not isinstance(error, IngestError | ConfigError | steps.ReconciliationError)


@task(name="discover-files", cache_policy=NO_CACHE)
def discover_files_task(events: str) -> list[Path]:
    """Resolve the events argument into files."""
    return discover_files(events)


@task(
    name="load-events",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=_retry_unless_bad_input,
)
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


@task(name="run-artifacts", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=2)
def run_artifacts_task(db_path: Path, run_id: str) -> None:
    """Publish the run summary and the top churn risks as Prefect artifacts."""
    found = steps.run_artifacts(db_path, run_id)
    create_markdown_artifact(
        found["summary"], key="cjm-run-summary", description=f"cjm run {run_id}: {db_path}"
    )
    create_table_artifact(
        found["churn_risks"],
        key="cjm-top-churn-risks",
        description=f"Riskiest customers after cjm run {run_id}",
    )


@flow(name="cjm-journeys", log_prints=True)
def journey_flow(
    events: str, db: str, config: Config | None = None, code_version: str | None = None
) -> dict:
    """Run the whole pipeline on `events` and publish the result to `db`."""
    config = config or Config()
    db_path = Path(db).resolve()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    record = new_run(db_path, config.model_dump(mode="json"), code_version)
    try:
        return _build_and_publish(events, db_path, config, record)
    except BaseException as exc:
        # The published file stays as it was, so the failure is kept in the run log beside it;
        # the next successful run copies it into pipeline_runs.
        record.status = "failed"
        record.finished_at = datetime.now(UTC)
        record.error = f"{type(exc).__name__}: {str(exc).strip()[:2000]}"
        with contextlib.suppress(OSError):
            steps.log_run(db_path, record)
        raise


def _build_and_publish(events: str, db_path: Path, config: Config, record: RunRecord) -> dict:
    """The flow's body: discover, build under the lock, publish, report."""
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
        with contextlib.suppress(OSError):
            steps.log_run(db_path, record)
        if run_artifacts_task(db_path, record.run_id, return_state=True).is_failed():
            get_run_logger().warning("run artifacts could not be created; the run is published")
    get_run_logger().info(
        f"published {db_path} (run {record.run_id}): {record.rows_read:,} rows read, "
        f"{record.rows_accepted:,} accepted, {record.rows_duplicate:,} duplicate, "
        f"{record.rows_rejected:,} rejected; {record.counts.get('customers', 0):,} customers"
    )
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
    }
