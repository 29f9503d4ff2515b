"""The pipeline_runs table: one row per run, kept across publishes."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import duckdb
import pandas as pd

from cjm.db import open_if_exists, quote_ident, table_exists, write_table

# pipeline_runs' integer columns: row totals of the files read, and counts of what the run built
ROW_TOTALS = ("rows_read", "rows_accepted", "rows_duplicate", "rows_rejected")
RUN_COUNTS = (
    "events",
    "customers",
    "sessions",
    "personas",
    "customers_scored",
    "flagged",
    "converted",
)

COUNT_QUERIES = {
    "events": "select count(*) from events",
    "customers": "select count(*) from journeys",
    "sessions": "select count(*) from sessions",
    "transitions": "select count(*) from transitions",
    "converted": "select count(*) from journeys where is_converted",
}
# Counted from the published tables too, so a run that loads nothing reports what is published;
# each only when its table exists (a build can stop before personas or scoring).
TABLE_COUNT_QUERIES = {
    "personas": ("personas", "select count(*) from personas"),
    "customers_scored": ("churn_risk", "select count(*) from churn_risk"),
    "flagged": ("churn_risk", "select count(*) from churn_risk where risk_tier = 'high'"),
}
# Statuses of runs that did not publish: kept in the run log until a successful run copies them.
UNPUBLISHED = ("failed", "interrupted")


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
    # full | incremental | unchanged (cjm.build.manifest.LoadPlan.mode), and the files this run
    # read; None means every file in file_loads.
    load_mode: str = "full"
    files_loaded: list[str] | None = None
    # rows of every published table, so a run's output can be compared with the last one's
    table_rows: dict[str, int] = field(default_factory=dict)
    # the flow stage the run was in when it ended (or was killed): load_events ... publish
    last_stage: str | None = None


def new_run(db_path: Path, parameters: dict, code_version: str | None = None) -> RunRecord:
    """Start a run record with a sortable, unique run id."""
    now = datetime.now(UTC)
    run_id = now.strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]
    return RunRecord(
        run_id=run_id,
        started_at=now,
        db_path=str(db_path),
        parameters=parameters,
        code_version=code_version or _code_version(),
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
    for column in ROW_TOTALS:
        setattr(record, column, int(frame[column].sum()))


def add_counts(record: RunRecord, con: duckdb.DuckDBPyConnection) -> None:
    """Count the published tables' rows into the record."""
    for name, query in COUNT_QUERIES.items():
        record.counts[name] = int(con.execute(query).fetchone()[0])
    for name, (table, query) in TABLE_COUNT_QUERIES.items():
        if table_exists(con, table):
            record.counts[name] = int(con.execute(query).fetchone()[0])
    tables = con.execute(
        "select table_name from information_schema.tables "
        "where table_schema = 'main' and table_type = 'BASE TABLE' order by table_name"
    ).fetchall()
    for (name,) in tables:
        if name != "pipeline_runs":
            record.table_rows[name] = int(
                con.execute(f"select count(*) from {quote_ident(name)}").fetchone()[0]
            )


def read_previous_runs(db_path: Path) -> pd.DataFrame | None:
    """The pipeline_runs history of the currently published file, if there is one."""
    con = open_if_exists(db_path, unreadable_ok=True)
    if con is None:
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
    for key in (
        "parameters",
        "input_files",
        "stage_seconds",
        "notes",
        "files_loaded",
        "table_rows",
    ):
        row[key] = json.dumps(row[key], default=str)
    for key in RUN_COUNTS:
        row[key] = counts.get(key)
    frame = pd.DataFrame([row])
    for key in ("started_at", "finished_at"):
        frame[key] = pd.to_datetime(frame[key], utc=True)
    return frame


def write_pipeline_runs(
    con: duckdb.DuckDBPyConnection,
    record: RunRecord,
    previous: pd.DataFrame | None,
    failed: list[RunRecord] | None = None,
) -> None:
    """Write pipeline_runs: the previous history, failed runs since, and this run."""
    frames = [record_frame(r) for r in failed or []] + [record_frame(record)]
    frame = pd.concat(frames, ignore_index=True)
    if previous is not None and len(previous):
        previous = previous[~previous["run_id"].isin(frame["run_id"])]
        frame = pd.concat([previous, frame], ignore_index=True)
    int_columns = [*ROW_TOTALS, *RUN_COUNTS]
    frame[int_columns] = frame[int_columns].astype("Int64")
    write_table(con, "pipeline_runs", frame.sort_values("started_at", ignore_index=True))


def run_log_path(db_path: Path) -> Path:
    """The append-only log of every run's outcome, beside the published file."""
    return db_path.with_name(f"{db_path.name}.runs.jsonl")


def append_run_log(db_path: Path, record: RunRecord) -> None:
    """Append one run's outcome as a JSON line; failed runs live here until a run succeeds."""
    row = asdict(record)
    row.pop("file_counts")
    line = json.dumps(row, default=str, sort_keys=True)
    log = run_log_path(db_path)
    log.parent.mkdir(parents=True, exist_ok=True)
    # One write of one line in append mode: concurrent writers do not interleave lines.
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def read_failed_runs(db_path: Path, previous: pd.DataFrame | None) -> list[RunRecord]:
    """Failed and interrupted runs in the run log that pipeline_runs does not hold yet."""
    log = run_log_path(db_path)
    if not log.exists():
        return []
    known = set(previous["run_id"]) if previous is not None and len(previous) else set()
    names = {f.name for f in fields(RunRecord)}
    failed: dict[str, RunRecord] = {}
    for text in log.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(text)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash mid-write; the others still count
        if row.get("status") not in UNPUBLISHED or row.get("run_id") in known:
            continue
        row = {k: v for k, v in row.items() if k in names}
        for key in ("started_at", "finished_at"):
            if row.get(key):
                row[key] = datetime.fromisoformat(row[key])
        failed[row["run_id"]] = RunRecord(**row)
    return list(failed.values())


def marker_path(db_path: Path) -> Path:
    """The file that says a run holds the lock and which stage it is in; gone when it ends."""
    return db_path.with_name(f".{db_path.name}.running")


def mark_stage(record: RunRecord, stage: str) -> None:
    """Record that the run entered `stage`, in the record and in its database's in-flight marker.

    Written to a temporary file and renamed, so a run killed mid-write leaves the previous stage.
    """
    record.last_stage = stage
    row = asdict(record)
    row.pop("file_counts")
    marker = marker_path(Path(record.db_path))
    partial = marker.with_name(marker.name + ".tmp")
    partial.write_text(json.dumps(row, default=str, sort_keys=True), encoding="utf-8")
    os.replace(partial, marker)


def clear_marker(db_path: Path) -> None:
    """The run has ended and its outcome is logged: it no longer needs the marker."""
    marker = marker_path(db_path)
    for path in (marker, marker.with_name(marker.name + ".tmp")):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def take_interrupted_run(db_path: Path, found_by: str) -> RunRecord | None:
    """The run a marker left behind, as an interrupted run, logged; call only under the lock.

    A run that held the lock and left its marker was killed or crashed before it could log its
    outcome. One that did publish (killed after the swap) is already in pipeline_runs: only its
    marker is removed.
    """
    marker = marker_path(db_path)
    if not marker.exists():
        return None
    try:
        row = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        row = None
    if row is None or not row.get("run_id"):
        clear_marker(db_path)
        return None
    previous = read_previous_runs(db_path)
    if previous is not None and row["run_id"] in set(previous["run_id"]):
        clear_marker(db_path)
        return None
    names = {f.name for f in fields(RunRecord)}
    row = {k: v for k, v in row.items() if k in names}
    for key in ("started_at", "finished_at"):
        if row.get(key):
            row[key] = datetime.fromisoformat(row[key])
    record = RunRecord(**row)
    record.status = "interrupted"
    record.finished_at = None
    stage = record.last_stage or "unknown"
    record.error = (
        f"interrupted in stage {stage}: the process was killed or crashed "
        f"(found by run {found_by} at {datetime.now(UTC).isoformat(timespec='seconds')})"
    )
    append_run_log(db_path, record)
    clear_marker(db_path)
    return record
