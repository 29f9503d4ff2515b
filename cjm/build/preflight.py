"""Checks of a run's inputs before anything starts: paths, event files and each file's header.

A run that would fail on these fails here, in about a second and before Prefect, a lock or any
file exists. Only headers are read (a CSV's sniffed header, a Parquet file's schema, the keys of the
first JSON Lines objects); rows are checked by the load, which reports them with their line.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from pathlib import Path

import duckdb

from cjm.build.customers import check_customer_file
from cjm.build.files import (
    MAX_LINE_BYTES,
    IngestError,
    compression,
    discover_files,
    file_format,
    is_blank,
    text_encoding,
)
from cjm.build.ingest import require_column
from cjm.config import CANONICAL_COLUMNS, Config, ConfigError

# JSON Lines objects read for a file's keys; only a file that lacks a required column there is
# read to its end before the check fails, so a valid file costs the same at any size.
JSON_SAMPLE_LINES = 1000


def check_run_inputs(events: str | Sequence[str], config: Config, db: Path) -> list[Path]:
    """Discover the event files and check the database path and each file's header against the
    config; return the files, or raise IngestError / ConfigError naming the file and the fix."""
    check_db_path(db)
    files = discover_files(events)
    headers: dict[Path, list[str]] = {}
    for path in files:
        columns = file_columns(path)
        if columns is None:
            continue
        check_required_columns(path, columns, config)
        headers[path] = columns
    check_mapped_columns(headers, config, len(files))
    if config.customers is not None:
        check_customer_file(config.customers, config.source_column("customer_id"))
    return files


def check_db_path(db: Path) -> None:
    """The published database must be a file whose directory can be made."""
    db = Path(db)
    if db.is_dir():
        raise ConfigError(
            f"--db {db}: is a directory; give the database file, e.g. {db}/cjm.duckdb"
        )
    for parent in db.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"--db {db}: {parent} is a file, not a directory")
            return


def file_columns(path: Path) -> list[str] | None:
    """The columns of one event file as the load will see them, or None where the header cannot
    be read here (an empty file, or one the load rejects with its own message)."""
    fmt = file_format(path)
    con = duckdb.connect()
    try:
        if fmt is None or (fmt != "parquet" and is_blank(con, path)):
            return None
        if fmt == "jsonl":
            return _json_keys(path, JSON_SAMPLE_LINES)
        if fmt == "csv":
            # The load's own options: with rejects stored, DuckDB's sniffer passes over broken
            # lines, which would otherwise make it read the whole header as one column.
            query = "describe select * from read_csv(?, all_varchar = true, header = true, "
            query += "store_rejects = true, strict_mode = true, null_padding = false, "
            query += "max_line_size = ?, encoding = ?, compression = ?)"
            params = [str(path), MAX_LINE_BYTES, text_encoding(path), compression(path)]
        else:
            query, params = "describe select * from read_parquet(?)", [str(path)]
        return [row[0] for row in con.execute(query, params).fetchall()]
    except duckdb.Error:
        return None
    finally:
        con.close()


def check_required_columns(path: Path, columns: list[str], config: Config) -> None:
    """Raise IngestError, as the load would, when a required column is neither in the file, nor
    mapped from one of its columns, nor given as an expression."""
    try:
        _check_required(path, columns, config)
    except IngestError:
        if file_format(path) != "jsonl":
            raise
        # The first objects need not carry every key: read them all before failing.
        _check_required(path, _json_keys(path, None) or columns, config)


def _check_required(path: Path, columns: list[str], config: Config) -> None:
    for canonical in CANONICAL_COLUMNS:
        source = config.source_column(canonical)
        if canonical not in config.expressions and source not in columns:
            require_column(path, canonical, source, columns, config)


def check_mapped_columns(headers: dict[Path, list[str]], config: Config, files: int) -> None:
    """A column mapped in the config must be in at least one file: one in none is a typo."""
    if not headers or len(headers) < files:
        return
    seen = {column for columns in headers.values() for column in columns}
    for canonical, source in config.columns.items():
        if source not in seen:
            example = next(iter(headers))
            raise ConfigError(
                f"columns.{canonical}: source column {source!r} is in none of the {files} event "
                f"files; {example.name} has {headers[example]}"
            )


def _json_keys(path: Path, limit: int | None) -> list[str] | None:
    """The keys of the JSON objects among the first `limit` lines (all lines for None), in the
    order they first appear; None when no line is a JSON object."""
    kind = compression(path)
    if kind == "zstd":
        return None  # Python cannot decompress it here: the load checks its columns
    encoding = text_encoding(path)
    keys: dict[str, None] = {}
    found = False
    text = "utf-8-sig" if encoding == "utf-8" else encoding
    opener = gzip.open if kind == "gzip" else open
    with opener(path, "rt", encoding=text, errors="replace", newline="\n") as handle:
        for number, line in enumerate(handle):
            if limit is not None and number >= limit:
                break
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                found = True
                keys.update(dict.fromkeys(value))
    return list(keys) if found else None
