"""The load manifest: which input files the published database holds, and what a run must load."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from cjm.build.files import FileLoad, file_format, skip_reason
from cjm.build.models import EVENTS_COLUMNS
from cjm.config import PROPERTY_COLUMNS, Config
from cjm.db import open_if_exists, table_exists, write_table

MANIFEST_TABLE = "loaded_files"
# Settings that shape the rows of events, rejected_events and file_loads. Rows built under other
# values cannot be merged with new ones, so a change to any of them needs a full refresh.
LOAD_SETTINGS = (
    "columns",
    "expressions",
    "timezone",
    "session_gap_minutes",
    "stages",
    "conversion_touchpoints",
    "sentiment_range",
    "event_time_window",
)
# Shapes events too (success touchpoints convert, failure ones are in the exit stage), but only
# enters the hash when given, so a config without outcomes keeps the hash it was published with.
OPTIONAL_LOAD_SETTINGS = ("outcomes",)
# Hashing reads the whole file: this chunk size keeps memory flat on multi-GB inputs.
_CHUNK = 1 << 20
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class IncrementalLoadError(RuntimeError):
    """The published database cannot be extended by this run: says what to do instead."""


@dataclass(frozen=True)
class FileFingerprint:
    """Identity of one input file's content: size, modification time and SHA-256."""

    source_file: str
    size_bytes: int
    modified_at: datetime
    sha256: str


@dataclass
class LoadPlan:
    """What a run loads: everything (full), only new files (incremental), or nothing."""

    mode: str
    run_id: str | None
    settings_hash: str
    to_load: list[FileFingerprint]
    db_path: str = ""
    already_loaded: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # (path, reason) of the paths found that are not event files (cjm.build.files.skip_reason)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        """The files this run reads."""
        return [Path(f.source_file) for f in self.to_load]


def settings_hash(config: Config) -> str:
    """SHA-256 of the settings that shape loaded events (LOAD_SETTINGS)."""
    dumped = config.model_dump(mode="json")
    shaping = {k: dumped[k] for k in LOAD_SETTINGS}
    # a property column (resource) is read from events.properties: it does not shape events
    shaping["columns"] = {k: v for k, v in shaping["columns"].items() if k not in PROPERTY_COLUMNS}
    shaping |= {k: dumped[k] for k in OPTIONAL_LOAD_SETTINGS if any(dumped[k].values())}
    text = json.dumps(shaping, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fingerprint(path: Path, known: dict | None = None) -> FileFingerprint:
    """Fingerprint a file; reuse the known SHA-256 when size and modification time are unchanged."""
    stat = path.stat()
    # Microseconds, as DuckDB stores them, so the value read back compares equal.
    modified = _EPOCH + timedelta(microseconds=stat.st_mtime_ns // 1000)
    if (
        known is not None
        and known["size_bytes"] == stat.st_size
        and pd.Timestamp(known["modified_at"]) == pd.Timestamp(modified)
    ):
        digest = known["sha256"]
    else:
        sha = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                sha.update(chunk)
        digest = sha.hexdigest()
    return FileFingerprint(str(path), stat.st_size, modified, digest)


def split_skipped(files: Sequence[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """The event files among `files`, and (path, reason) of the others, which are not read."""
    readable, skipped = [], []
    for path in files:
        reason = skip_reason(path)
        if reason is None:
            readable.append(path)
        else:
            skipped.append((str(path), reason))
    return readable, skipped


def _skipped_notes(skipped: list[tuple[str, str]]) -> list[str]:
    return [f"skipped {path}: {reason}" for path, reason in skipped]


def full_plan(files: Sequence[Path], config: Config, run_id: str | None = None) -> LoadPlan:
    """A plan that loads every event file into an empty build (other paths are skipped)."""
    readable, skipped = split_skipped(files)
    return LoadPlan(
        "full",
        run_id,
        settings_hash(config),
        [fingerprint(p) for p in readable],
        notes=_skipped_notes(skipped),
        skipped=skipped,
    )


def _check_events_columns(db_path: Path) -> None:
    """Refuse, before anything is loaded, to extend an events table another version built."""
    con = open_if_exists(db_path)
    if con is None:
        return
    try:
        published = [
            r[0]
            for r in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'main' and table_name = 'events' order by ordinal_position"
            ).fetchall()
        ]
    finally:
        con.close()
    if published == list(EVENTS_COLUMNS):
        return
    if not published:
        found = "has no events table"
    else:
        missing = [c for c in EVENTS_COLUMNS if c not in published]
        extra = [c for c in published if c not in EVENTS_COLUMNS]
        found = (
            "has an events table from another version of cjm ("
            + (
                "; ".join(
                    part
                    for part in (
                        f"without {', '.join(missing)}" if missing else "",
                        f"with {', '.join(extra)} as well" if extra else "",
                    )
                    if part
                )
                or "columns in another order"
            )
            + ")"
        )
    raise IncrementalLoadError(
        f"{db_path} {found}: new files cannot be merged into it; rerun with --full-refresh to "
        "rebuild from all input files (once after upgrading cjm)"
    )


def read_manifest(db_path: Path) -> pd.DataFrame | None:
    """The loaded_files table of the published database; None if there is none."""
    con = open_if_exists(db_path)
    if con is None:
        return None
    try:
        if not table_exists(con, MANIFEST_TABLE):
            return None
        return con.execute(f"select * from {MANIFEST_TABLE}").df()
    finally:
        con.close()


def plan_load(
    db_path: Path,
    files: Sequence[Path],
    config: Config,
    *,
    full_refresh: bool = False,
    run_id: str | None = None,
) -> LoadPlan:
    """Decide what this run loads, comparing the input files with the published manifest."""
    current = settings_hash(config)
    manifest = None if full_refresh else read_manifest(db_path)
    if manifest is None:
        notes = []
        if not full_refresh and db_path.exists():
            notes.append(f"{db_path} has no {MANIFEST_TABLE} table: rebuilt from the given files")
        plan = full_plan(files, config, run_id)
        plan.notes += notes
        return plan
    changed_settings = sorted(set(manifest["settings_hash"]) - {current})
    if changed_settings:
        raise IncrementalLoadError(
            f"{db_path}: settings that shape events ({', '.join(LOAD_SETTINGS)}) differ from "
            "those the published events were loaded with; rerun with --full-refresh to rebuild "
            "from all input files under the new settings"
        )
    _check_events_columns(db_path)
    files, skipped = split_skipped(files)
    known = {row["source_file"]: row for row in manifest.to_dict("records")}
    loaded_hashes = {row["sha256"]: name for name, row in known.items()}
    to_load, already, notes = [], [], _skipped_notes(skipped)
    for path in files:
        previous = known.get(str(path))
        found = fingerprint(path, previous)
        if previous is None:
            if found.sha256 in loaded_hashes:
                notes.append(
                    f"{path} has the same content as the loaded {loaded_hashes[found.sha256]}; "
                    "its rows count as duplicates"
                )
            to_load.append(found)
        elif found.sha256 != previous["sha256"]:
            raise IncrementalLoadError(
                f"{path}: content changed since run {previous['run_id']} loaded it "
                f"(size {previous['size_bytes']:,} -> {found.size_bytes:,} bytes, SHA-256 "
                "differs). Loaded rows are never re-read: put new events in a new file, or rerun "
                "with --full-refresh to rebuild from the files as they are now"
            )
        else:
            already.append(str(path))
    if not to_load:
        notes.append(
            f"no new input files ({len(already)} already loaded): published tables unchanged"
        )
    mode = "incremental" if to_load else "unchanged"
    return LoadPlan(mode, run_id, current, to_load, str(db_path), already, notes, skipped)


def write_manifest(
    con: duckdb.DuckDBPyConnection, plan: LoadPlan, loads: Sequence[FileLoad]
) -> None:
    """Add this run's files to loaded_files (kept from the published file when incremental)."""
    rows = {load.source_file: load for load in loads}
    loaded_at = datetime.now(UTC)
    frame = pd.DataFrame(
        {
            "source_file": [f.source_file for f in plan.to_load],
            "file_format": [file_format(Path(f.source_file)) for f in plan.to_load],
            "size_bytes": [f.size_bytes for f in plan.to_load],
            "modified_at": [f.modified_at for f in plan.to_load],
            "sha256": [f.sha256 for f in plan.to_load],
            "rows_read": [rows[f.source_file].rows_read for f in plan.to_load],
            "run_id": [plan.run_id] * len(plan.to_load),
            "loaded_at": [loaded_at] * len(plan.to_load),
            "settings_hash": [plan.settings_hash] * len(plan.to_load),
        }
    ).astype(
        {
            "source_file": "string",
            "file_format": "string",
            "size_bytes": "int64",
            "sha256": "string",
            "rows_read": "int64",
            "run_id": "string",
            "settings_hash": "string",
        }
    )
    frame["modified_at"] = pd.to_datetime(frame["modified_at"], utc=True)
    frame["loaded_at"] = pd.to_datetime(frame["loaded_at"], utc=True)
    if plan.mode == "incremental" and table_exists(con, MANIFEST_TABLE):
        cursor = con.cursor()
        try:
            cursor.register("_cjm_manifest", frame)
            cursor.execute(f"insert into {MANIFEST_TABLE} by name select * from _cjm_manifest")
            cursor.unregister("_cjm_manifest")
        finally:
            cursor.close()
    else:
        write_table(con, MANIFEST_TABLE, frame)
