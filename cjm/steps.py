"""Pipeline steps that work on the build database by path: the nodes the Prefect flow wires."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cjm.config import Config
from cjm.db import connect
from cjm.ingest import FileLoad, load_files
from cjm.models import build_models, drop_build_tables, write_file_reads
from cjm.runs import (
    RunRecord,
    add_counts,
    add_file_loads,
    read_previous_runs,
    write_pipeline_runs,
)

Progress = Callable[[str], None] | None


class ReconciliationError(RuntimeError):
    """Rows read do not add up to accepted + duplicate + rejected: never publish that."""


def _open(build_path: Path, config: Config):
    return connect(
        build_path, threads=config.duckdb_threads, memory_limit=config.duckdb_memory_limit
    )


def load_events(
    build_path: Path, files: list[Path], config: Config, progress: Progress = None
) -> list[FileLoad]:
    """Land every input file in the build database."""
    con = _open(build_path, config)
    try:
        loads = load_files(con, files, config, progress)
        write_file_reads(con, loads)
        return loads
    finally:
        con.close()


def build_journeys(build_path: Path, config: Config, progress: Progress = None) -> dict:
    """Run the SQL models: events, sessions, journeys, transitions and the reconciliation."""
    con = _open(build_path, config)
    try:
        timings = build_models(con, config, progress=progress)
        broken = con.execute(
            "select source_file, rows_read, rows_accepted, rows_duplicate, rows_rejected "
            "from file_loads where not is_reconciled"
        ).fetchall()
        if broken:
            raise ReconciliationError(f"row counts do not reconcile for {broken}")
        return timings
    finally:
        con.close()


def finish_run(build_path: Path, record: RunRecord, db_path: Path) -> RunRecord:
    """Drop build-only tables and write pipeline_runs with the history of the published file."""
    con = connect(build_path)
    try:
        started = time.perf_counter()
        drop_build_tables(con)
        add_file_loads(record, con)
        add_counts(record, con)
        record.status = "success"
        record.finished_at = datetime.now(UTC)
        record.stage_seconds["finish"] = round(time.perf_counter() - started, 3)
        write_pipeline_runs(con, record, read_previous_runs(db_path))
        return record
    finally:
        con.close()
