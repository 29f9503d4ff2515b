"""Read event files (CSV, JSON Lines, Parquet) into the build database, losing no row."""

from __future__ import annotations

import errno
import glob
import gzip
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from cjm.config import CANONICAL_COLUMNS, Config
from cjm.db import quote_ident, sql_literal

FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}

# Compressed CSV and JSON Lines (`events.csv.gz`, `events.jsonl.zst`), which DuckDB reads natively.
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd"}
READABLE = ".csv, .tsv, .txt, .jsonl, .ndjson, .json, .parquet, .pq (text formats also .gz or .zst)"

# Longest line a CSV or JSON Lines file may have (DuckDB's default is 2 MB); a longer line stops
# the file with an error naming the line.
MAX_LINE_BYTES = 64 * 1024 * 1024
# Byte-order marks of UTF-16 files, which DuckDB reads when told the encoding.
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")

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
# DuckDB type names of nested values: STRUCT(...), MAP(...), UNION(...), lists T[] and arrays T[n].
_NESTED_TYPE = re.compile(r"^(STRUCT|MAP|UNION)\(|\]$")
# CSV and JSON Lines rows land in this table; Parquet files read through views of the file (see
# _land_parquet_view), and raw_events is the union of both.
LANDED_TABLE = "raw_events_landed"
# has_typed_event_time: the file's event time column is already TIMESTAMPTZ, so staging parses no
# text for it (cjm.models.parses_text).
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


class IngestError(RuntimeError):
    """An input problem that stops the run: names the file and what to do."""


@dataclass(frozen=True)
class FileLoad:
    """What was read from one file: rows read, and rows that could not be parsed at all.

    A file that is not read (status `skipped`: unknown type, symlink loop) says why in `reason`.
    """

    source_file: str
    file_format: str | None
    rows_read: int
    rows_unparseable: int
    status: str = "loaded"
    reason: str | None = None


def file_format(path: Path) -> str | None:
    """csv, jsonl or parquet by the file's extension (after .gz or .zst); None if unknown."""
    suffixes = [x.lower() for x in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        inner = FORMATS.get(suffixes[-2]) if len(suffixes) > 1 else None
        return inner if inner in ("csv", "jsonl") else None
    return FORMATS.get(path.suffix.lower())


def compression(path: Path) -> str:
    """DuckDB's name of the file's compression: gzip, zstd or none."""
    return COMPRESSIONS.get(path.suffix.lower(), "none")


def skip_reason(path: Path) -> str | None:
    """Why a discovered path is not read (listed as skipped), or None when it is an event file."""
    if path.is_symlink():
        try:
            path.stat()
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return "symlink loop: the link resolves to itself"
            return f"broken symlink ({exc.strerror})"
        if path.is_dir():
            real, parent = os.path.realpath(path), os.path.realpath(path.parent)
            if parent == real or parent.startswith(real.rstrip(os.sep) + os.sep):
                return f"symlink loop: points to {real}, a directory that contains it"
            return f"a link to the directory {real} (name the directory itself to read it)"
    if not path.is_file():
        return "not a regular file"
    if file_format(path) is None:
        kind = "".join(path.suffixes[-2:]) or path.name
        return f"unknown file type {kind!r}; read are {READABLE}"
    return None


def discover_files(spec: str | Path | Sequence[str | Path]) -> list[Path]:
    """Resolve a file, a directory (searched recursively) or a glob into paths, sorted.

    Files of other types, symlink loops and broken links found in a directory or by a glob are
    returned too, to be listed as skipped (skip_reason); a file named on its own must be readable.
    """
    specs = [spec] if isinstance(spec, str | Path) else list(spec)
    found: list[Path] = []
    for item in specs:
        path = Path(item).expanduser()
        if path.is_dir():
            matches = _walk(path)
            if not any(skip_reason(p) is None for p in matches):
                raise IngestError(f"{path}: no event files ({READABLE}) in this directory")
            found.extend(matches)
        elif path.is_file():
            reason = skip_reason(path)
            if reason is not None:
                raise IngestError(f"{path}: {reason}")
            found.append(path)
        elif path.is_symlink() and not glob.has_magic(str(item)):
            raise IngestError(f"{path}: {skip_reason(path)}")
        else:
            matches = [
                Path(p)
                for p in glob.glob(str(path), recursive=True)
                if Path(p).is_file() or Path(p).is_symlink()
            ]
            if not matches:
                raise IngestError(f"{item}: no such file, directory or matching glob")
            found.extend(matches)
    return sorted({_resolved(p) for p in found})


def _walk(root: Path) -> list[Path]:
    """Every non-directory path under root, following directory links but not around a loop:
    a link to a directory it is in is returned itself (skip_reason reports it)."""
    found: list[Path] = []
    stack = [(root, frozenset({os.path.realpath(root)}))]
    while stack:
        directory, ancestors = stack.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                path = Path(entry.path)
                try:
                    is_dir = entry.is_dir()  # follows links; False for broken ones
                except OSError:  # a link that resolves to itself
                    is_dir = False
                if not is_dir:
                    found.append(path)
                    continue
                real = os.path.realpath(path)
                if real in ancestors:
                    found.append(path)
                else:
                    stack.append((path, ancestors | {real}))
    return found


def _resolved(path: Path) -> Path:
    """The resolved path of an event file; links that cannot be resolved keep their own path."""
    if skip_reason(path) is not None and path.is_symlink():
        return path.absolute()
    return path.resolve()


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
    if path.stat().st_size == 0 or (fmt != "parquet" and _is_blank(con, path)):
        # No header and no rows (any format, a zero-byte Parquet file too): nothing to map and
        # nothing to lose; file_loads shows 0 rows read.
        return FileLoad(str(path), fmt, 0, 0)
    if fmt == "parquet" and path.is_absolute() and not config.expressions:
        return _land_parquet_view(con, path, config)
    reader = {"csv": _stage_csv, "jsonl": _stage_jsonl, "parquet": _stage_parquet}[fmt]
    if fmt == "parquet":
        _check_scalar_columns(path, _parquet_types(con, path), config)
    try:
        unparseable = reader(con, path)
    except duckdb.Error as exc:
        raise IngestError(f"{path}: cannot read as {fmt}: {_reason(exc)}") from None
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
        raise IngestError(f"{path}: cannot read as parquet: {_reason(exc)}") from None
    _check_scalar_columns(path, types, config)
    columns = list(types)
    parts = [f"{sql_literal(str(path))} as source_file", "file_row_number + 1 as source_row"]
    used: set[str] = set()
    for canonical in CANONICAL_COLUMNS:
        source = config.source_column(canonical)
        if source not in types:
            _require(path, canonical, source, columns, config)
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
                if _NESTED_TYPE.search(types[c])
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
    SQL text, and they are checked at config load (cjm.expressions). `from_json`: the file is
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
            _require(path, canonical, source, columns, config)
            parts.append(f"null::varchar as {canonical}")
    if nested:
        flags = ", ".join(
            f"case when {_IS_NESTED_JSON} then {sql_literal(canonical)} end"
            for _source, canonical in nested
        )
        params += [_json_path(source) for source, _canonical in nested]
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
        params += [x for c in extra for x in (c, _json_path(c), _json_path(c))] + extra
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
        raise IngestError(f"{path}: cannot read as parquet: {_reason(exc)}") from None
    return {r[0]: r[1] for r in described}


def _check_scalar_columns(path: Path, types: dict[str, str], config: Config) -> None:
    """Raise when a column mapped onto a canonical column is of a nested type (struct, list,
    map): its values would only become text like "{'id': 7}"."""
    for canonical in CANONICAL_COLUMNS:
        source = config.source_column(canonical)
        if canonical in config.expressions or source not in types:
            continue
        if _NESTED_TYPE.search(types[source]):
            mapped = f" (source column {source!r})" if source != canonical else ""
            raise IngestError(
                f"{path}: column {canonical!r}{mapped} is of the nested type {types[source]}; "
                "it must hold one plain value per row. Flatten it in the file, or derive the "
                "column under `expressions:` in the config"
            )


def _require(path: Path, canonical: str, source: str, columns: list[str], config: Config) -> None:
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


def _stage_csv(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """CSV into _cjm_file as text; broken lines go to raw_rejects with their line number."""
    # DuckDB appends to existing rejects tables: without this, one file's broken lines would be
    # counted again (and misnumber the good lines) in every CSV file read after it.
    con.execute("drop table if exists _cjm_errors")
    con.execute("drop table if exists _cjm_scans")
    con.execute(
        "create or replace temp table _cjm_csv as select * from read_csv(?, all_varchar = true, "
        "header = true, store_rejects = true, rejects_scan = '_cjm_scans', "
        "rejects_table = '_cjm_errors', strict_mode = true, null_padding = false, "
        "max_line_size = ?, encoding = ?, compression = ?)",
        [str(path), MAX_LINE_BYTES, _encoding(path), compression(path)],
    )
    # A fresh table keeps file order in rowid, so the n-th good record is the n-th line that
    # is not a rejected one (line 1 is the header).
    rejected = con.execute(
        "select line, string_agg(distinct error_type, '; ' order by error_type), "
        "any_value(csv_line) from _cjm_errors group by line order by line"
    ).fetchall()
    con.execute("create or replace temp table _cjm_rej_lines (line bigint)")
    if rejected:
        con.executemany("insert into _cjm_rej_lines values (?)", [[r[0]] for r in rejected])
        con.executemany(
            "insert into raw_rejects values (?, ?, ?, ?)",
            [
                [str(path), line, f"unparseable_row: {kind.lower()}", raw]
                for line, kind, raw in rejected
            ],
        )
    _check_header(con, path)
    total = con.execute("select count(*) from _cjm_csv").fetchone()[0]
    con.execute(
        """
        create or replace temp table _cjm_file as
        with good_lines as (
            select line, row_number() over (order by line) as n
            from range(2, ? + 2) as t(line)
            anti join _cjm_rej_lines using (line)
        ),
        numbered as (select rowid + 1 as n, * from _cjm_csv)
        select good_lines.line as _cjm_row, numbered.* exclude (n)
        from numbered join good_lines using (n)
        """,
        [total + len(rejected)],
    )
    con.execute("drop table _cjm_csv")
    con.execute("drop table _cjm_rej_lines")
    return len(rejected)


def _check_header(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Raise when two header fields have the same name (DuckDB would rename the second)."""
    read = [r[0] for r in con.execute("describe _cjm_csv").fetchall()]
    try:
        header = con.execute(
            "select * from read_csv(?, header = false, all_varchar = true, max_line_size = ?, "
            "encoding = ?, compression = ?) limit 1",
            [str(path), MAX_LINE_BYTES, _encoding(path), compression(path)],
        ).fetchone()
    except duckdb.Error:
        return  # read with a header it parsed; without one the sniffer gave up: nothing to add
    if header is None or len(header) != len(read):
        return  # read without a header, the file sniffs as another dialect: nothing to compare
    seen: dict[str, tuple[int, str]] = {}
    for position, name in enumerate(header, 1):
        # DuckDB's names are case-insensitive: Id and id are one column to it
        key = (name or "").strip().lower()
        if not key:
            continue  # unnamed fields get distinct names from DuckDB
        if key in seen:
            first, first_name = seen[key]
            same = "twice" if first_name == name else f"twice ({first_name!r} and {name!r})"
            raise IngestError(
                f"{path}: the header has column {first_name!r} {same}, as fields {first} and "
                f"{position}; rename one of them in the file"
            )
        seen[key] = (position, name)


def _stage_jsonl(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """JSON Lines into _cjm_file as text; lines that are not JSON objects go to raw_rejects."""
    con.execute(
        "create or replace temp table _cjm_text as select text from read_csv(?,"
        " columns = {'text': 'VARCHAR'}, delim = chr(1), quote = '', escape = '', header = false,"
        " auto_detect = false, strict_mode = false, max_line_size = ?, encoding = ?,"
        " compression = ?)",
        [str(path), MAX_LINE_BYTES, _encoding(path), compression(path)],
    )
    # A fresh table keeps file order in rowid, which gives each line its number; DuckDB does not
    # short-circuit `and`, hence the case guarding json_type.
    con.execute(
        "create or replace temp table _cjm_lines as select rowid + 1 as line, text, "
        "case when json_valid(text) then json_type(text) = 'OBJECT' else false end "
        "as _cjm_is_object from _cjm_text"
    )
    con.execute("drop table _cjm_text")
    con.execute(
        """
        insert into raw_rejects
        select ?, line,
            case when json_valid(text) then 'unparseable_row: not a json object'
                 else 'unparseable_row: invalid json' end,
            text
        from _cjm_lines
        where trim(text) <> '' and not _cjm_is_object
        """,
        [str(path)],
    )
    con.execute(
        "delete from _cjm_lines where text is null or trim(text) = '' or not _cjm_is_object"
    )
    keys = [
        r[0]
        for r in con.execute(
            "select k from (select unnest(json_keys(text)) as k, line from _cjm_lines) "
            "group by k order by min(line), k"
        ).fetchall()
    ]
    if not keys and con.execute("select count(*) from _cjm_lines").fetchone()[0] == 0:
        array = (_head(path, 64) or b"").lstrip().startswith(b"[")
        hint = " (this file holds a JSON array: convert it with `jq -c '.[]'`)" if array else ""
        raise IngestError(
            f"{path}: no line is a JSON object; JSON Lines has one object per line{hint}"
        )
    if keys:
        # A nested value is kept as its JSON text, a scalar as its plain text.
        fields = ", ".join(f"(text ->> ?) as {quote_ident(k)}" for k in keys)
    else:
        fields = "null::varchar as _cjm_empty"
    con.execute(
        f"create or replace temp table _cjm_file as select line as _cjm_row, {fields}, "
        f"{_MAYBE_NESTED} from _cjm_lines order by line",
        [_json_path(k) for k in keys],
    )
    unparseable = con.execute(
        "select count(*) from raw_rejects where source_file = ?", [str(path)]
    ).fetchone()[0]
    con.execute("drop table _cjm_lines")
    return unparseable


# The line, kept only where it may hold a nested value (a '{' after the first character, or a
# '['), for _mapping_select to tell JSON objects and arrays from text; other lines (nearly all)
# skip those checks. Keeping every line made reading JSON Lines about 50% slower.
_MAYBE_NESTED = (
    "case when contains(substr(text, 2), '{') or contains(text, '[') then text end as _cjm_json"
)


def _stage_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Parquet into _cjm_file with every column cast to text (times keep their offset), nested
    ones to JSON."""
    described = con.execute("describe select * from read_parquet(?)", [str(path)]).fetchall()
    # a nested column (never a canonical one: _check_scalar_columns) becomes JSON, not text
    casts = ", ".join(
        (
            f"to_json({quote_ident(r[0])})"
            if _NESTED_TYPE.search(r[1])
            else f"cast({quote_ident(r[0])} as varchar)"
        )
        + f" as {quote_ident(r[0])}"
        for r in described
    )
    con.execute(
        "create or replace temp table _cjm_file as select file_row_number + 1 as _cjm_row, "
        f"{casts} from read_parquet(?, file_row_number = true)",
        [str(path)],
    )
    return 0


def _json_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _reason(exc: Exception) -> str:
    """DuckDB's reading error without the echoed line and reader settings: line and cause."""
    # split("\n"), not splitlines(): the echoed input may hold \r, \v or \x1c, which would
    # split it and hide the cause.
    lines = str(exc).strip().split("\n")
    if not lines:
        return type(exc).__name__
    block: list[str] = []
    for line in lines[1:]:
        if not line.strip() or line.startswith(("Possible Solution", "LINE ")):
            break
        block.append(line.strip())
    # After "Original Line" comes the echoed input (maybe binary, maybe split); the cause is last.
    if any(line.startswith("Original Line") for line in block):
        block = block[-1:]
    text = " ".join([lines[0].replace("CSV Error on Line: ", "error on line "), *block])
    if "not possible to automatically detect" in text:
        text = text.split(" The search space")[0] + " (expected UTF-8 text with a header row)"
    return _CONTROL_CHARS.sub("?", text)[:400]


def _head(path: Path, size: int) -> bytes | None:
    """The first `size` bytes of the file's content (decompressed from gzip); None for zstd,
    which Python cannot decompress here (DuckDB reads it)."""
    kind = compression(path)
    if kind == "zstd":
        return None
    try:
        opener = gzip.open if kind == "gzip" else open
        with opener(path, "rb") as handle:
            return handle.read(size)
    except (OSError, EOFError):
        return None  # not gzip after all: DuckDB's read names the fault


def _encoding(path: Path) -> str:
    """UTF-16 when the file starts with its byte-order mark, else UTF-8."""
    return "utf-16" if (_head(path, 2) or b"") in UTF16_BOMS else "utf-8"


def _is_blank(con: duckdb.DuckDBPyConnection, path: Path) -> bool:
    """Whether a text file holds nothing but whitespace (an empty export)."""
    if path.stat().st_size == 0:
        return True
    limit = 1 << 20
    head = _head(path, limit + 1)
    if head is None:
        if compression(path) != "zstd":
            return False
        # Stops at the first line with text; an empty zstd frame has no line at all.
        try:
            lines = con.execute(
                "select count(*) from (select text from read_csv(?, columns = {'text': 'VARCHAR'}, "
                "delim = chr(1), quote = '', escape = '', header = false, auto_detect = false, "
                "strict_mode = false, max_line_size = ?, compression = 'zstd') "
                "where trim(replace(text, chr(0), '')) <> '' limit 1)",
                [str(path), MAX_LINE_BYTES],
            ).fetchone()[0]
        except duckdb.Error:
            return False  # the read that follows names the fault
        return lines == 0
    if len(head) > limit:
        return False
    for bom in (b"\xef\xbb\xbf", *UTF16_BOMS):
        head = head.removeprefix(bom)
    return not head.replace(b"\x00", b"").strip()
