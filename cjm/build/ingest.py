"""Land event files in the build database (raw_events, raw_rejects), losing no row: CSV and JSON
Lines rows as text, Parquet files read in place, every source column mapped onto the canonical
ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import duckdb

from cjm.build.files import FileLoad, IngestError, file_format, is_blank, skip_reason
from cjm.build.readers import (
    NESTED_TYPE,
    error_reason,
    json_path,
    stage_csv,
    stage_jsonl,
    stage_parquet,
)
from cjm.config import CANONICAL_COLUMNS, Config
from cjm.db import quote_ident, sql_literal

# Landed rows: every source value as text, except that a Parquet column already of the canonical
# type (event_time TIMESTAMPTZ, revenue and sentiment DOUBLE) arrives in the typed_* column instead
# of its text, which staging would only parse back into the same value.
RAW_EVENTS_COLUMNS = """
    source_file varchar,
    source_row bigint,
    event_id varchar,
    customer_id varchar,
    anonymous_id varchar,
    event_time varchar,
    touchpoint varchar,
    channel varchar,
    revenue varchar,
    sentiment varchar,
    properties json,
    nested_columns varchar[],
    typed_event_time timestamptz,
    typed_revenue double,
    typed_sentiment double
"""


# Canonical column -> the Parquet type that goes to its typed_* column unchanged.
TYPED_COLUMNS = {
    "event_time": "TIMESTAMP WITH TIME ZONE",
    "revenue": "DOUBLE",
    "sentiment": "DOUBLE",
}


# Canonical columns that must hold one plain value: a JSON object or array in one is rejected
# (`<column>_not_scalar`), and a Parquet column of a nested type is an error.
SCALAR_COLUMNS = ("customer_id", "anonymous_id", "event_id", "touchpoint", "channel")


# CSV and JSON Lines rows land in this table; Parquet files read through views of the file (see
# _land_parquet_view), and raw_events is the union of both.
LANDED_TABLE = "raw_events_landed"


# has_typed_event_time: the file's event time column is already TIMESTAMPTZ, so staging parses no
# text for it (cjm.build.models.parses_text).
PARQUET_SOURCES_DDL = """
create or replace table raw_parquet_sources (
    source_file varchar,
    select_sql varchar,
    has_typed_event_time boolean
)
"""


RAW_REJECTS_DDL = """
create or replace table raw_rejects (
    source_file varchar,
    source_row bigint,
    reason varchar,
    raw varchar
)
"""


def create_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the empty landing tables for a run, and raw_events over them."""
    con.execute("drop view if exists raw_events")
    con.execute(f"create or replace table {LANDED_TABLE} ({RAW_EVENTS_COLUMNS})")
    con.execute(PARQUET_SOURCES_DDL)
    con.execute(RAW_REJECTS_DDL)
    _create_raw_events_view(con)


def _create_raw_events_view(con: duckdb.DuckDBPyConnection) -> None:
    """raw_events: the landed CSV/JSON rows and every Parquet file read in place."""
    parts = [f"select * from {LANDED_TABLE}"] + [
        r[0]
        for r in con.execute("select select_sql from raw_parquet_sources order by rowid").fetchall()
    ]
    con.execute("create or replace view raw_events as\n" + "\nunion all by name\n".join(parts))


def load_files(
    con: duckdb.DuckDBPyConnection,
    files: Sequence[Path],
    config: Config,
    progress: Callable[[str], None] | None = None,
) -> list[FileLoad]:
    """Load every file into raw_events/raw_rejects; all source values are kept as text."""
    create_raw_tables(con)
    loads = []
    for i, path in enumerate(files, 1):
        reason = skip_reason(path)
        if reason is not None:
            if progress:
                progress(f"skipping {path.name} ({i}/{len(files)}): {reason}")
            loads.append(FileLoad(str(path), file_format(path), 0, 0, "skipped", reason))
            continue
        if progress:
            progress(f"reading {path.name} ({i}/{len(files)})")
        loads.append(load_file(con, path, config))
    return loads


def load_file(con: duckdb.DuckDBPyConnection, path: Path, config: Config) -> FileLoad:
    """Load one file; structural parse failures go to raw_rejects with their line."""
    fmt = file_format(path)
    if fmt is None:
        raise IngestError(f"{path}: {skip_reason(path)}")
    if path.stat().st_size == 0 or (fmt != "parquet" and is_blank(con, path)):
        # No header and no rows (any format, a zero-byte Parquet file too): nothing to map and
        # nothing to lose; file_loads shows 0 rows read.
        return FileLoad(str(path), fmt, 0, 0)
    if fmt == "parquet" and path.is_absolute() and not config.expressions:
        return _land_parquet_view(con, path, config)
    reader = {"csv": stage_csv, "jsonl": stage_jsonl, "parquet": stage_parquet}[fmt]
    if fmt == "parquet":
        _check_scalar_columns(path, _parquet_types(con, path), config)
    try:
        unparseable = reader(con, path)
    except duckdb.Error as exc:
        raise IngestError(f"{path}: cannot read as {fmt}: {error_reason(exc)}") from None
    columns = [
        row[0]
        for row in con.execute(
            "select column_name from information_schema.columns where table_name = '_cjm_file' "
            "and not starts_with(column_name, '_cjm_') order by ordinal_position"
        ).fetchall()
    ]
    select, params = _mapping_select(path, columns, config, from_json=fmt == "jsonl")
    try:
        con.execute(
            f"insert into {LANDED_TABLE} by name select ? as source_file, _cjm_row as source_row, "
            f"{select} from _cjm_file",
            [str(path), *params],
        )
    except duckdb.Error as exc:
        raise IngestError(
            f"{path}: the column mapping or an expression failed on this file: {_first_line(exc)}"
        ) from None
    rows = con.execute("select count(*) from _cjm_file").fetchone()[0]
    con.execute("drop table _cjm_file")
    return FileLoad(str(path), fmt, rows + unparseable, unparseable)


def _land_parquet_view(con: duckdb.DuckDBPyConnection, path: Path, config: Config) -> FileLoad:
    """Land a Parquet file (no configured expressions) as a view of the file, not a copy.

    Writing every row into the build file again was the largest single cost of a run; the file is
    read in place by the models instead. Values are cast to text exactly as the copying path does,
    except columns already of the canonical type (TYPED_COLUMNS). The mapping holds only column
    references and casts to text, which cannot fail on any value, so a file that describes here
    also reads in the models; a file that cannot be read stops the run here.
    """
    types = _parquet_types(con, path)
    try:
        rows = con.execute("select count(*) from read_parquet(?)", [str(path)]).fetchone()[0]
    except duckdb.Error as exc:
        raise IngestError(f"{path}: cannot read as parquet: {error_reason(exc)}") from None
    _check_scalar_columns(path, types, config)
    columns = list(types)
    parts = [f"{sql_literal(str(path))} as source_file", "file_row_number + 1 as source_row"]
    used: set[str] = set()
    for canonical in CANONICAL_COLUMNS:
        source = config.source_column(canonical)
        if source not in types:
            require_column(path, canonical, source, columns, config)
            continue
        used.add(source)
        if TYPED_COLUMNS.get(canonical) == types[source]:
            parts.append(f"{quote_ident(source)} as typed_{canonical}")
        else:
            parts.append(f"cast({quote_ident(source)} as varchar) as {canonical}")
    extra = [c for c in columns if c not in used]
    if extra:
        # nested values stay JSON; scalars become their text, as everywhere else
        fields = ", ".join(
            f"{sql_literal(c)}, "
            + (
                f"to_json({quote_ident(c)})"
                if NESTED_TYPE.search(types[c])
                else f"cast({quote_ident(c)} as varchar)"
            )
            for c in extra
        )
        parts.append(f"json_object({fields}) as properties")
    # The view reads the file by absolute path: it must not depend on the reader's directory.
    select = (
        f"select {', '.join(parts)} from read_parquet("
        f"{sql_literal(str(path.resolve()))}, file_row_number = true)"
    )
    typed_time = types.get(config.source_column("event_time")) == TYPED_COLUMNS["event_time"]
    con.execute("insert into raw_parquet_sources values (?, ?, ?)", [str(path), select, typed_time])
    _create_raw_events_view(con)
    return FileLoad(str(path), "parquet", rows, 0)


def _mapping_select(
    path: Path, columns: list[str], config: Config, from_json: bool = False
) -> tuple[str, list[str]]:
    """Select list (and its parameters) mapping a file's columns onto the canonical ones.

    Columns the mapping does not use are kept as a JSON object of properties. Column names are
    quoted identifiers and property keys are `?` parameters; only the configured expressions are
    SQL text, and they are checked at config load (cjm.build.expressions). `from_json`: the file is
    JSON Lines with each line in _cjm_json, so a JSON object or array in a scalar column is
    listed in nested_columns and one in a property stays JSON.
    """
    available = set(columns)
    used: set[str] = set()
    parts, params, nested = [], [], []
    for canonical in CANONICAL_COLUMNS:
        if canonical in config.expressions:
            parts.append(f"cast(({config.expressions[canonical]}) as varchar) as {canonical}")
            continue
        source = config.source_column(canonical)
        if source in available:
            used.add(source)
            parts.append(f"{quote_ident(source)} as {canonical}")
            if from_json and canonical in SCALAR_COLUMNS:
                nested.append((source, canonical))
        else:
            require_column(path, canonical, source, columns, config)
            parts.append(f"null::varchar as {canonical}")
    if nested:
        flags = ", ".join(
            f"case when {_IS_NESTED_JSON} then {sql_literal(canonical)} end"
            for _source, canonical in nested
        )
        params += [json_path(source) for source, _canonical in nested]
        parts.append(
            "case when _cjm_json is not null then "
            f"list_filter([{flags}], lambda c: c is not null) end as nested_columns"
        )
    extra = [c for c in columns if c not in used]
    plain = ", ".join(f"?, {quote_ident(c)}" for c in extra)
    if extra and from_json:
        fields = ", ".join(
            f"?, case when {_IS_NESTED_JSON} then json_extract(_cjm_json, ?) "
            f"else to_json({quote_ident(c)}) end"
            for c in extra
        )
        params += [x for c in extra for x in (c, json_path(c), json_path(c))] + extra
        parts.append(
            f"case when _cjm_json is not null then json_object({fields}) "
            f"else json_object({plain}) end as properties"
        )
    elif extra:
        params += extra
        parts.append(f"json_object({plain}) as properties")
    else:
        parts.append("null::json as properties")
    return ", ".join(parts), params


# Whether the value at a `?` JSON path of the line is an object or an array.
_IS_NESTED_JSON = "coalesce(json_type(_cjm_json, ?) in ('OBJECT', 'ARRAY'), false)"


def _parquet_types(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, str]:
    """Column name -> DuckDB type of a Parquet file."""
    try:
        described = con.execute("describe select * from read_parquet(?)", [str(path)]).fetchall()
    except duckdb.Error as exc:
        raise IngestError(f"{path}: cannot read as parquet: {error_reason(exc)}") from None
    return {r[0]: r[1] for r in described}


def _check_scalar_columns(path: Path, types: dict[str, str], config: Config) -> None:
    """Raise when a column mapped onto a canonical column is of a nested type (struct, list,
    map): its values would only become text like "{'id': 7}"."""
    for canonical in CANONICAL_COLUMNS:
        source = config.source_column(canonical)
        if canonical in config.expressions or source not in types:
            continue
        if NESTED_TYPE.search(types[source]):
            mapped = f" (source column {source!r})" if source != canonical else ""
            raise IngestError(
                f"{path}: column {canonical!r}{mapped} is of the nested type {types[source]}; "
                "it must hold one plain value per row. Flatten it in the file, or derive the "
                "column under `expressions:` in the config"
            )


def require_column(
    path: Path, canonical: str, source: str, columns: list[str], config: Config
) -> None:
    """Raise when a required canonical column is neither in the file nor an expression."""
    has_anonymous = (
        "anonymous_id" in config.expressions or config.source_column("anonymous_id") in columns
    )
    required = canonical in ("event_time", "touchpoint") or (
        canonical == "customer_id" and not has_anonymous
    )
    if not required:
        return
    mapped = f" (mapped from source column {source!r})" if source != canonical else ""
    raise IngestError(
        f"{path}: required column {canonical!r}{mapped} is missing; the file has columns "
        f"{columns}. Map it in the config under `columns:` (e.g. `{canonical}: YourColumn`) "
        f"or give an expression under `expressions:`."
    )


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
