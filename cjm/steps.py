"""The steps of a run around its analytic stages, each on the build database by path: plan and
load the event files, build the SQL models (whole or in buckets of customers), check the guard
rails, finish the run (checks, pipeline_runs, catalog), then what follows publishing (run log,
artifacts, the journey map). The analytic stages are cjm.stages.STAGES; the flow (cjm.flows)
wires both."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from cjm.build import catalog, guard_rails, incremental, manifest, partition
from cjm.build.files import FileLoad
from cjm.build.ingest import load_files
from cjm.build.models import build_models, drop_build_tables, run_model
from cjm.build.parameters import write_file_reads, write_run_clock
from cjm.build.publish import discard
from cjm.build.runs import (
    RunRecord,
    add_counts,
    add_file_loads,
    append_run_log,
    read_failed_runs,
    read_previous_runs,
    take_interrupted_run,
    write_pipeline_runs,
)
from cjm.checks import check_keys, check_reconciled
from cjm.churn_list import read_churn_card
from cjm.config import Config, duckdb_settings
from cjm.db import connect, copy_database
from cjm.journeys import paths
from cjm.observe import run_summary_markdown, run_warnings, top_churn_risks

Progress = Callable[[str], None] | None


def open_build(build_path: Path, config: Config) -> duckdb.DuckDBPyConnection:
    """Open the build file with the config's DuckDB settings (the first step creates it)."""
    # In the configured storage format: the file becomes the published one.
    return connect(
        build_path, storage_version=config.duckdb_storage_version, **duckdb_settings(config)
    )


def plan_load(
    db_path: Path, files: list[Path], config: Config, full_refresh: bool, run_id: str
) -> manifest.LoadPlan:
    """Decide what this run loads: all files, only new ones, or nothing (see cjm.build.manifest)."""
    plan = manifest.plan_load(db_path, files, config, full_refresh=full_refresh, run_id=run_id)
    if plan.mode == "unchanged" and config.customers is not None:
        # Nothing is rebuilt, so the customers file is not read again: say so, not silently.
        plan.notes.append(
            f"no new events: customer attributes are the published ones; {config.customers} is "
            "read again on the next run with new events, or with --full-refresh"
        )
    return plan


def reuse_published(build_path: Path, db_path: Path, config: Config) -> None:
    """Start the build as a copy of the published file (a run with nothing new to load), in the
    configured storage format."""
    discard(build_path)
    copy_database(db_path, build_path, config.duckdb_storage_version)


def load_events(
    build_path: Path,
    files: list[Path],
    config: Config,
    progress: Progress = None,
    plan: manifest.LoadPlan | None = None,
    clock: datetime | None = None,
) -> list[FileLoad]:
    """Land the files of the plan (default: all `files`) and record them in loaded_files.

    `clock` (default: now) is the run's clock, which bounds the event times accepted.
    """
    plan = plan or manifest.full_plan(files, config)
    if plan.mode == "incremental":
        if progress:
            progress(f"seeding the build from {plan.db_path}")
        incremental.seed_build(Path(plan.db_path), build_path, config.duckdb_storage_version)
    with open_build(build_path, config) as con:
        skipped = [Path(path) for path, _reason in plan.skipped]
        loads = load_files(con, [*plan.files, *skipped], config, progress)
        write_file_reads(con, loads)
        write_run_clock(con, clock or datetime.now(UTC))
        manifest.write_manifest(con, plan, loads)
        return loads


def build_journeys(build_path: Path, config: Config, progress: Progress = None) -> dict:
    """Run the SQL models: events, sessions, journeys, transitions and the reconciliation."""
    with open_build(build_path, config) as con:
        hooks = incremental.merge_hooks() if incremental.is_seeded(con) else None
        timings = build_models(con, config, progress=progress, hooks=hooks)
        check_reconciled(con)
        return timings


def export_partitions(
    build_path: Path, config: Config, part_dir: Path, progress: Progress = None
) -> list[int]:
    """De-duplicate and stitch the landed events, then write them to bucket files by customer."""
    with open_build(build_path, config) as con:
        if progress:
            progress(f"loading, then splitting customers into {config.partitions} buckets")
        buckets = partition.export_buckets(con, config, part_dir, config.partitions)
        check_reconciled(con)
        return buckets


def build_partition(part_dir: Path, bucket: int, config: Config) -> dict[str, int]:
    """Sessions, journeys and transition edges of one bucket of customers (runs on any worker)."""
    return partition.build_bucket(part_dir, bucket, config)


def combine_partitions(
    build_path: Path,
    config: Config,
    part_dir: Path,
    buckets: list[int],
    progress: Progress = None,
) -> dict[str, float]:
    """Combine the buckets into events, sessions, journeys, transitions; build the other marts."""
    with open_build(build_path, config) as con:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        if progress:
            progress(f"combining {len(buckets)} buckets")
        if buckets:  # without any, export_partitions built the empty tables
            partition.combine_buckets(con, config, part_dir)
        timings["combine_buckets"] = round(time.perf_counter() - started, 3)
        for layer, name in partition.combined_plan():
            if progress:
                progress(f"building {name}")
            started = time.perf_counter()
            run_model(con, layer, name)
            timings[name] = round(time.perf_counter() - started, 3)
        partition.drop_bucket_views(con)
        return timings


def check_guard_rails(build_path: Path, db_path: Path, strict: bool = False) -> dict:
    """Compare the build's churn and personas with the published run's (cjm.build.guard_rails).

    Collapses become warnings in the run's notes; with `strict` they fail the run instead.
    """
    before = guard_rails.read_published_vitals(db_path)
    if before is None:
        return {"notes": []}
    with connect(build_path, read_only=True) as con:
        now = guard_rails.read_vitals(con)
    found = guard_rails.collapses(before, now)
    if found and strict:
        raise guard_rails.GuardRailError(
            "this run's churn or personas collapsed against the published run, and the run is "
            f"strict, so nothing was published ({db_path} is unchanged): " + "; ".join(found)
        )
    return {"notes": [guard_rails.WARNING_PREFIX + text for text in found]}


def finish_run(build_path: Path, record: RunRecord, db_path: Path) -> RunRecord:
    """Drop build-only tables and write pipeline_runs with the history of the published file."""
    with connect(build_path) as con:
        started = time.perf_counter()
        drop_build_tables(con)
        schema = catalog.read_schema()
        check_keys(con, schema)
        add_file_loads(record, con)
        add_counts(record, con)
        record.status = "success"
        record.finished_at = datetime.now(UTC)
        record.stage_seconds["finish"] = round(time.perf_counter() - started, 3)
        previous = read_previous_runs(db_path)
        write_pipeline_runs(con, record, previous, read_failed_runs(db_path, previous))
        # Last, so that every published table is there to be described (pipeline_runs included).
        paths.create_path_macros(con)
        catalog.publish_catalog(con, schema)
        return record


def note_interrupted_run(db_path: Path, record: RunRecord) -> None:
    """Record, in the run's notes, a run that held the lock before and was killed or crashed
    mid-way (its in-flight marker is left); it goes to pipeline_runs as interrupted."""
    interrupted = take_interrupted_run(db_path, record.run_id)
    if interrupted is not None:
        record.notes.append(
            f"run {interrupted.run_id} (started {interrupted.started_at:%Y-%m-%d %H:%M:%S} "
            f"UTC) was interrupted in stage {interrupted.last_stage}: killed or crashed; "
            "recorded in pipeline_runs with status interrupted"
        )


def add_summary(record: RunRecord, summary: dict | None) -> None:
    """Add a stage summary's counts and notes to the run record."""
    summary = summary or {}
    record.counts.update(summary.get("counts", {}))
    record.notes += summary.get("notes", [])


def log_run(db_path: Path, record: RunRecord) -> None:
    """Append the run's outcome (success or failure) to the run log beside the published file."""
    append_run_log(db_path, record)


def log_failure(db_path: Path, record: RunRecord, exc: BaseException) -> None:
    """Keep a failed run in the run log beside the published file, which stays as it was; the
    next successful run copies it into pipeline_runs."""
    record.status = "failed"
    record.finished_at = datetime.now(UTC)
    record.error = f"{type(exc).__name__}: {str(exc).strip()[:2000]}"
    with contextlib.suppress(OSError):
        log_run(db_path, record)


def run_artifacts(db_path: Path, run_id: str, top: int = 20) -> dict:
    """The run summary (markdown) and the top churn risks (rows), from the published file."""
    with connect(db_path, read_only=True) as con:
        runs = con.execute("select * from pipeline_runs").df()
        warning = "; ".join(read_churn_card(con).get("warnings") or [])
        return {
            "summary": run_summary_markdown(runs, run_id),
            "churn_risks": top_churn_risks(con, top),
            "churn_warning": warning or None,
            "warnings": run_warnings(runs, run_id),
        }


def report_path_for(db_path: Path) -> Path:
    """Where a run writes the journey map: beside the published file, `<stem>_report.html`."""
    return db_path.with_name(f"{db_path.stem}_report.html")


def write_report(db_path: Path, config: Config) -> Path:
    """Write the journey map of the published database beside it (read-only on the database)."""
    from cjm.report import write_report as write_journey_map  # plotly loads only when needed

    return write_journey_map(
        db_path,
        report_path_for(db_path),
        entity=config.entity,
        emotion_min_events=config.emotion_min_events,
        **duckdb_settings(config),
    )


def published_message(db_path: Path, record: RunRecord) -> str:
    """The line a published run logs: where, which run, the row counts and the customers."""
    return (
        f"published {db_path} (run {record.run_id}, {record.load_mode}): "
        f"{record.rows_read:,} rows read, {record.rows_accepted:,} accepted, "
        f"{record.rows_duplicate:,} duplicate, {record.rows_rejected:,} rejected; "
        f"{record.counts.get('customers', 0):,} customers"
    )


def run_summary(record: RunRecord, report: Path | None) -> dict:
    """What the flow returns: the run's load mode, row counts, stage counts, notes and report."""
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
        "warnings": guard_rails.warnings_in(record.notes),
        "report_path": str(report) if report else None,
    }
