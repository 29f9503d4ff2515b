"""The cjm Prefect flows and tasks: event files in, a published journey database out.

Wiring only: each task is one call into cjm (cjm.steps, cjm.stages, cjm.artifacts), and the flow
passes paths and the validated config between them. `pipelines/journey_flow.py` re-exports this
module, so the deployment entrypoint `pipelines/journey_flow.py:journey_flow` keeps working.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from prefect import flow, get_run_logger, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from cjm import artifacts, steps
from cjm.build.files import FileLoad, discover_files
from cjm.build.manifest import LoadPlan
from cjm.build.partition import partition_dir_for, remove_buckets
from cjm.build.publish import build_path_for, discard, discard_stale_builds, publish, run_lock
from cjm.build.runs import RunRecord, clear_marker, mark_stage, new_run
from cjm.config import Config
from cjm.deadline import run_deadline
from cjm.errors import is_user_error
from cjm.stages import STAGES, Stage

__all__ = [
    "STAGE_TASKS",
    "bucket_flow",
    "bucket_runner",
    "build_bucket_task",
    "build_journeys_task",
    "check_guard_rails_task",
    "combine_buckets_task",
    "discover_files_task",
    "export_buckets_task",
    "finish_run_task",
    "journey_flow",
    "load_events_task",
    "plan_load_task",
    "publish_task",
    "reuse_published_task",
    "run_artifacts_task",
    "write_report_task",
]


# Hold points, for the crash-safety tests (tests/pipelines/test_crash_safety.py), which must kill -9
# a real `cjm run` process, or race a second run against it, at a known moment: with the variable
# HOLD_AT_VARIABLE set to the start of a progress message, the run writes "cjm test hold:
# <message>" to stderr when it reaches that message, then sleeps HOLD_SECONDS (the tests kill it
# long before). Every progress message of the steps is a hold point, so a test can stop a run at
# any stage without a hook in cjm's logic. Nothing else sets the variable; unset, it costs one
# environment lookup per progress message.
HOLD_AT_VARIABLE = "CJM_TEST_HOLD_AT"
HOLD_SECONDS = 600


def _progress(message: str) -> None:
    """The steps' progress callback: log the message; park the run there if a test asked to."""
    get_run_logger().info(message)
    hold_at = os.environ.get(HOLD_AT_VARIABLE)
    if hold_at and message.startswith(hold_at):
        # Straight to the file descriptor: flow-level print capture must not swallow it.
        os.write(2, f"cjm test hold: {message}\n".encode())
        time.sleep(HOLD_SECONDS)


def _retry_unless_bad_input(task, task_run, state) -> bool:
    """Retry I/O failures; a user's error (cjm.errors.USER_ERRORS: bad input or configuration)
    fails the same way every time."""
    return not is_user_error(state.result(raise_on_failure=False))


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
def reuse_published_task(build_path: Path, db_path: Path, config: Config) -> None:
    """Nothing new to load: the build is a copy of the published file."""
    steps.reuse_published(build_path, db_path, config)


@task(
    name="load-events",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=_retry_unless_bad_input,
)
def load_events_task(
    build_path: Path, files: list[Path], config: Config, plan: LoadPlan
) -> list[FileLoad]:
    """Land the plan's event files in the build database."""
    return steps.load_events(build_path, files, config, _progress, plan)


@task(name="build-journeys", cache_policy=NO_CACHE)
def build_journeys_task(build_path: Path, config: Config) -> dict:
    """Build events, sessions, journeys and transitions."""
    return steps.build_journeys(build_path, config, _progress)


@task(name="export-buckets", cache_policy=NO_CACHE)
def export_buckets_task(build_path: Path, config: Config, part_dir: Path) -> list[int]:
    """De-duplicate and stitch the landed events, then write them to bucket files by customer."""
    return steps.export_partitions(build_path, config, part_dir, _progress)


@task(name="build-bucket", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=2)
def build_bucket_task(part_dir: Path, bucket: int, config: Config) -> dict[str, int]:
    """Sessions, journeys and transition edges of one bucket of customers."""
    return steps.build_partition(part_dir, bucket, config)


@task(name="combine-buckets", cache_policy=NO_CACHE)
def combine_buckets_task(
    build_path: Path, config: Config, part_dir: Path, buckets: list[int]
) -> dict[str, float]:
    """Combine the buckets into events, sessions, journeys and transitions."""
    return steps.combine_partitions(build_path, config, part_dir, buckets, _progress)


def _stage_task(stage: Stage):
    """The Prefect task of one stage of cjm.stages.STAGES, named as the stage (dashes)."""

    def run(build_path: Path, config: Config, db_path: Path, run_id: str) -> dict:
        return stage.run(build_path, config, db_path, run_id, _progress)

    run.__name__ = run.__qualname__ = f"{stage.name}_task"
    run.__doc__ = (stage.step.__doc__ or "").splitlines()[0]
    return task(name=stage.name.replace("_", "-"), cache_policy=NO_CACHE)(run)


# One task per analytic stage, in run order: the flow runs exactly the stages of STAGES.
STAGE_TASKS = {stage.name: _stage_task(stage) for stage in STAGES}


@task(name="check-guard-rails", cache_policy=NO_CACHE)
def check_guard_rails_task(build_path: Path, db_path: Path, strict: bool) -> dict:
    """Warn (or, strict, fail) when churn or personas collapsed against the published run."""
    return steps.check_guard_rails(build_path, db_path, strict)


@task(name="finish-run", cache_policy=NO_CACHE)
def finish_run_task(build_path: Path, record: RunRecord, db_path: Path) -> RunRecord:
    """Record the run in pipeline_runs."""
    return steps.finish_run(build_path, record, db_path)


@task(name="publish", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def publish_task(build_path: Path, db_path: Path) -> None:
    """Swap the new database in for the published one."""
    publish(build_path, db_path, _progress)


@task(name="run-artifacts", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=2)
def run_artifacts_task(db_path: Path, run_id: str) -> None:
    """Publish the run summary and the top churn risks as Prefect artifacts."""
    artifacts.create_run_artifacts(db_path, run_id)


@task(name="write-report", cache_policy=NO_CACHE)
def write_report_task(db_path: Path, config: Config) -> Path | None:
    """Write the journey map beside the published database and link it from the run."""
    return artifacts.write_linked_report(db_path, config)


@flow(name="cjm-journeys", log_prints=True)
def journey_flow(
    events: str,
    db: str,
    config: Config | None = None,
    full_refresh: bool = False,
    code_version: str | None = None,
    strict: bool = False,
) -> dict:
    """Run the pipeline on the new files among `events` (all with full_refresh); publish to `db`.

    With `strict`, a run whose churn or personas collapse (cjm.build.guard_rails) fails unpublished.
    """
    config = config or Config()
    db_path = Path(db).resolve()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    record = new_run(db_path, config.model_dump(mode="json"), code_version)
    try:
        with run_deadline(config.flow_timeout_seconds):
            return _build_and_publish(events, db_path, config, full_refresh, record, strict)
    except BaseException as exc:
        if record.status != "failed":  # failed before it held the lock (under it, already logged)
            steps.log_failure(db_path, record, exc)
        raise


@contextlib.contextmanager
def _clock(seconds: dict[str, float], name: str) -> Iterator[None]:
    """Record the block's wall seconds under `name` in `seconds` once it completes (not if it
    fails: a failed run's stage_seconds hold the stages it finished)."""
    started = time.perf_counter()
    yield
    seconds[name] = round(time.perf_counter() - started, 3)


@contextlib.contextmanager
def _stage(record: RunRecord, name: str) -> Iterator[None]:
    """Enter stage `name` (the in-flight marker names it) and time it into record.stage_seconds:
    the one way the flow times a stage. ('finish' is timed inside steps.finish_run, which writes
    pipeline_runs, and build_journeys adds the seconds of each SQL model.)"""
    mark_stage(record, name)
    with _clock(record.stage_seconds, name):
        yield


def _build_and_publish(
    events: str,
    db_path: Path,
    config: Config,
    full_refresh: bool,
    record: RunRecord,
    strict: bool = False,
) -> dict:
    """The flow's body: discover, plan, build under the lock, publish, report."""
    files = discover_files_task(events)
    record.input_files = [str(f) for f in files]
    with run_lock(db_path):
        # A marker left by a run that held this lock: it was killed or crashed mid-way.
        steps.note_interrupted_run(db_path, record)
        build_path = build_path_for(db_path, record.run_id)
        discard_stale_builds(db_path)
        try:
            mark_stage(record, "plan_load")
            plan = plan_load_task(db_path, files, config, full_refresh, record.run_id)
            record.load_mode, record.files_loaded = plan.mode, [str(p) for p in plan.files]
            record.notes += plan.notes
            if plan.mode == "unchanged":
                mark_stage(record, "reuse_published")
                reuse_published_task(build_path, db_path, config)
            else:
                _build(build_path, db_path, files, config, plan, record)
                with _stage(record, "guard_rails"):
                    guarded = check_guard_rails_task(build_path, db_path, strict)
                steps.add_summary(record, guarded)
            mark_stage(record, "finish")
            record = finish_run_task(build_path, record, db_path)
            mark_stage(record, "publish")
            publish_task(build_path, db_path)
        except BaseException as exc:
            discard(build_path)
            steps.log_failure(db_path, record, exc)
            clear_marker(db_path)
            raise
        with contextlib.suppress(OSError):
            steps.log_run(db_path, record)
        clear_marker(db_path)
        if run_artifacts_task(db_path, record.run_id, return_state=True).is_failed():
            get_run_logger().warning("run artifacts could not be created; the run is published")
        report = write_report_task(db_path, config)
    get_run_logger().info(steps.published_message(db_path, record))
    return steps.run_summary(record, report)


def _build(
    build_path: Path,
    db_path: Path,
    files: list[Path],
    config: Config,
    plan: LoadPlan,
    record: RunRecord,
) -> None:
    """Every build stage in order; each task's wall time goes to pipeline_runs.stage_seconds."""
    with _stage(record, "load_events"):
        load_events_task(build_path, files, config, plan)
    with _stage(record, "build_journeys"):
        # Both add the seconds of each SQL model to stage_seconds.
        if config.is_partitioned and plan.mode == "full":
            _build_in_buckets(build_path, config, record.stage_seconds)
        else:
            if config.is_partitioned:
                record.notes.append(
                    "partitions apply to full builds: this incremental load ran in one process"
                )
            record.stage_seconds.update(build_journeys_task(build_path, config))
    for stage in STAGES:
        with _stage(record, stage.name):
            summary = STAGE_TASKS[stage.name](build_path, config, db_path, record.run_id)
        steps.add_summary(record, summary)


def _build_in_buckets(build_path: Path, config: Config, seconds: dict[str, float]) -> None:
    """Per-customer models in buckets on the flow's task runner (threads here, or Dask); the
    seconds of exporting, building and combining go to `seconds`."""
    part_dir = partition_dir_for(build_path, config.partition_dir)
    try:
        with _clock(seconds, "export_buckets"):
            buckets = export_buckets_task(build_path, config, part_dir)
        with _clock(seconds, "build_buckets"):
            bucket_flow.with_options(task_runner=bucket_runner(config))(part_dir, buckets, config)
        seconds.update(combine_buckets_task(build_path, config, part_dir, buckets))
    finally:
        remove_buckets(part_dir)


@flow(name="cjm-buckets")
def bucket_flow(part_dir: Path, buckets: list[int], config: Config) -> list[dict[str, int]]:
    """Build every bucket on this flow's task runner (see bucket_runner)."""
    futures = build_bucket_task.map(unmapped(part_dir), buckets, unmapped(config))
    return futures.result()


def bucket_runner(config: Config) -> TaskRunner:
    """Where buckets run: one at a time in this process (each bucket already uses every DuckDB
    thread, and one at a time bounds memory), or on a Dask cluster."""
    if config.task_runner == "dask":
        from prefect_dask import DaskTaskRunner  # only runs that use Dask import it

        if config.dask_address:
            return DaskTaskRunner(address=config.dask_address)
        return DaskTaskRunner()  # a temporary local cluster
    return ThreadPoolTaskRunner(max_workers=1)
