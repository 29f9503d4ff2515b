"""Read one event file of each format into the temp table _cjm_file, every value as text, and
send the lines that cannot be parsed to raw_rejects with their line number."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from cjm.build.files import MAX_LINE_BYTES, IngestError, compression, read_head, text_encoding
from cjm.db import quote_ident

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


# DuckDB type names of nested values: STRUCT(...), MAP(...), UNION(...), lists T[] and arrays T[n].
NESTED_TYPE = re.compile(r"^(STRUCT|MAP|UNION)\(|\]$")


def stage_csv(con: duckdb.DuckDBPyConnection, path: Path) -> int:
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
        [str(path), MAX_LINE_BYTES, text_encoding(path), compression(path)],
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
            [str(path), MAX_LINE_BYTES, text_encoding(path), compression(path)],
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


def stage_jsonl(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """JSON Lines into _cjm_file as text; lines that are not JSON objects go to raw_rejects."""
    con.execute(
        "create or replace temp table _cjm_text as select text from read_csv(?,"
        " columns = {'text': 'VARCHAR'}, delim = chr(1), quote = '', escape = '', header = false,"
        " auto_detect = false, strict_mode = false, max_line_size = ?, encoding = ?,"
        " compression = ?)",
        [str(path), MAX_LINE_BYTES, text_encoding(path), compression(path)],
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
        array = (read_head(path, 64) or b"").lstrip().startswith(b"[")
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
        [json_path(k) for k in keys],
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


def stage_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Parquet into _cjm_file with every column cast to text (times keep their offset), nested
    ones to JSON."""
    described = con.execute("describe select * from read_parquet(?)", [str(path)]).fetchall()
    # a nested column (never a canonical one: _check_scalar_columns) becomes JSON, not text
    casts = ", ".join(
        (
            f"to_json({quote_ident(r[0])})"
            if NESTED_TYPE.search(r[1])
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


def json_path(key: str) -> str:
    """The JSON path of a top-level key, quoted so that any key name is one step."""
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def error_reason(exc: Exception) -> str:
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
