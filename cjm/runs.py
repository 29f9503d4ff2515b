"""The pipeline_runs table: one row per run, kept across publishes."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import duckdb
import pandas as pd

from cjm.db import connect, table_exists, write_table

COUNT_QUERIES = {
    "events": "select count(*) from events",
    "customers": "select count(*) from journeys",
    "sessions": "select count(*) from sessions",
    "transitions": "select count(*) from transitions",
}


@dataclass
class RunRecord:
    """What one run did; becomes a row of pipeline_runs."""

    run_id: str
    started_at: datetime
    db_path: str
    parameters: dict
    input_files: list[str] = field(default_factory=list)
    finished_at: datetime | None = None
    status: str = "running"
    rows_read: int = 0
    rows_accepted: int = 0
    rows_duplicate: int = 0
    rows_rejected: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    file_counts: list[dict] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    code_version: str = ""
    # full | incremental | unchanged (cjm.manifest.LoadPlan.mode), and the files this run read;
    # None means every file in file_loads.
    load_mode: str = "full"
    files_loaded: list[str] | None = None


def new_run(db_path: Path, parameters: dict) -> RunRecord:
    """Start a run record with a sortable, unique run id."""
    now = datetime.now(UTC)
    run_id = now.strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]
    return RunRecord(
        run_id=run_id,
        started_at=now,
        db_path=str(db_path),
        parameters=parameters,
        code_version=_code_version(),
    )


def _code_version() -> str:
    try:
        return metadata.version("cjm")
    except metadata.PackageNotFoundError:
        return "unknown"


def add_file_loads(record: RunRecord, con: duckdb.DuckDBPyConnection) -> None:
    """Fill the row counts of the record from the reconciled file_loads of the files it read."""
    frame = con.execute(
        "select source_file, file_format, rows_read, rows_accepted, rows_duplicate, rows_rejected "
        "from file_loads order by source_file"
    ).df()
    if record.files_loaded is not None:
        frame = frame[frame["source_file"].isin(record.files_loaded)].reset_index(drop=True)
    record.file_counts = frame.to_dict("records")
    totals = [int(frame[c].sum()) for c in ("rows_read", "rows_accepted")]
    totals += [int(frame[c].sum()) for c in ("rows_duplicate", "rows_rejected")]
    record.rows_read, record.rows_accepted, record.rows_duplicate, record.rows_rejected = totals


def add_counts(record: RunRecord, con: duckdb.DuckDBPyConnection) -> None:
    """Count the published tables' rows into the record."""
    for name, query in COUNT_QUERIES.items():
        record.counts[name] = int(con.execute(query).fetchone()[0])


def read_previous_runs(db_path: Path) -> pd.DataFrame | None:
    """The pipeline_runs history of the currently published file, if there is one."""
    if not db_path.exists():
        return None
    try:
        con = connect(db_path, read_only=True)
    except duckdb.Error:
        return None
    try:
        if not table_exists(con, "pipeline_runs"):
            return None
        return con.execute("select * from pipeline_runs").df()
    finally:
        con.close()


def record_frame(record: RunRecord) -> pd.DataFrame:
    """One-row frame of the record, with nested fields as JSON text."""
    row = asdict(record)
    counts = row.pop("counts")
    row.pop("file_counts")
    for key in ("parameters", "input_files", "stage_seconds", "notes", "files_loaded"):
        row[key] = json.dumps(row[key], default=str)
    for key in ("events", "customers", "sessions", "personas", "customers_scored", "flagged"):
        row[key] = counts.get(key)
    frame = pd.DataFrame([row])
    for key in ("started_at", "finished_at"):
        frame[key] = pd.to_datetime(frame[key], utc=True)
    return frame


def write_pipeline_runs(
    con: duckdb.DuckDBPyConnection, record: RunRecord, previous: pd.DataFrame | None
) -> None:
    """Write pipeline_runs: the previous history plus this run."""
    frame = record_frame(record)
    if previous is not None and len(previous):
        previous = previous[previous["run_id"] != record.run_id]
        frame = pd.concat([previous, frame], ignore_index=True)
    int_columns = [
        "rows_read",
        "rows_accepted",
        "rows_duplicate",
        "rows_rejected",
        "events",
        "customers",
        "sessions",
        "personas",
        "customers_scored",
        "flagged",
    ]
    frame[int_columns] = frame[int_columns].astype("Int64")
    write_table(con, "pipeline_runs", frame.sort_values("started_at", ignore_index=True))
