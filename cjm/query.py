"""Read-only access to the published database: ad-hoc SQL and the churn-risk list."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import hmac
import io
import json
import os
import threading
from pathlib import Path
from typing import BinaryIO

import duckdb
import pandas as pd

from cjm.db import connect, quote_ident, sql_literal, table_exists

# Spreadsheet apps run a cell that starts with one of these as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class QueryError(RuntimeError):
    """A query that cannot run: missing file, a write attempt, or bad SQL."""


def open_published(
    db_path: Path,
    *,
    threads: int | None = None,
    memory_limit: str | None = None,
    temp_directory: Path | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the published file read-only, with a clear error if it is not there."""
    if not db_path.exists():
        raise QueryError(f"{db_path}: no published database here; run `cjm run` first")
    try:
        return connect(
            db_path,
            read_only=True,
            threads=threads,
            memory_limit=memory_limit,
            temp_directory=temp_directory,
        )
    except duckdb.Error as exc:
        raise QueryError(f"{db_path}: cannot open read-only: {exc}") from None


def _query_message(exc: duckdb.Error) -> str:
    message = str(exc).strip().splitlines()[0]
    if "read-only" in message.lower() or "read only" in message.lower():
        message += " (cjm query is read-only; the pipeline is the only writer)"
    return message


EXPORT_FORMATS = ("csv", "json", "parquet", "markdown")
# How DuckDB's COPY writes each format; json is one array of objects, as `--format json` always was.
COPY_OPTIONS = {
    "csv": "format csv, header true",
    "json": "format json, array true",
    "parquet": "format parquet",
}
MARKDOWN_BATCH = 10_000


def _relation(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyRelation:
    # DuckDB draws its progress bar on stdout, where a csv or json export may be going.
    con.execute("set enable_progress_bar = false")
    try:
        relation = con.sql(sql)
    except duckdb.Error as exc:
        raise QueryError(_query_message(exc)) from None
    if relation is None:
        raise QueryError("cjm query shows the rows of one query (select, with, from, show, ...)")
    return relation


def _clip_text(relation: duckdb.DuckDBPyRelation, width: int) -> duckdb.DuckDBPyRelation:
    """The relation with its text cells cut to `width` characters (an ellipsis marks a cut)."""
    columns = []
    for name, column_type in zip(relation.columns, relation.types, strict=True):
        ident = quote_ident(name)
        if str(column_type).upper() == "VARCHAR":
            columns.append(
                f"case when length({ident}) > {width} "
                f"then left({ident}, {width - 1}) || '\u2026' else {ident} end as {ident}"
            )
        else:
            columns.append(ident)
    return relation.project(", ".join(columns))


def show_query(
    db_path: Path,
    sql: str,
    *,
    max_rows: int,
    max_col_width: int,
    max_width: int | None = None,
) -> str:
    """The first `max_rows` rows of a read-only query drawn by DuckDB, and how many more exist."""
    con = open_published(db_path)
    try:
        return show_rows(
            con, sql, max_rows=max_rows, max_col_width=max_col_width, max_width=max_width
        )
    finally:
        con.close()


def show_rows(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    *,
    max_rows: int,
    max_col_width: int,
    max_width: int | None = None,
) -> str:
    """show_query on an open connection (whose variables the SQL may read)."""
    if max_rows < 1 or max_col_width < 2:
        raise QueryError("--max-rows must be at least 1 and --max-col-width at least 2")
    relation = _relation(con, sql)
    shown = _clip_text(relation.limit(max_rows), max_col_width)
    try:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            shown.show(max_rows=max_rows, max_width=max_width)
        # Only the head is drawn; the rest is counted, never fetched.
        total = relation.aggregate("count(*)").fetchall()[0][0]
    except duckdb.Error as exc:
        raise QueryError(_query_message(exc)) from None
    text = buffer.getvalue().rstrip("\n")
    if total > max_rows:
        text += (
            f"\n{total - max_rows:,} more rows ({total:,} in all; --max-rows N shows more, "
            "--format csv|json|parquet|markdown writes all)"
        )
    return text


def export_query(db_path: Path, sql: str, fmt: str, out: Path | None, stream: BinaryIO) -> None:
    """Write every row of a read-only query as csv, json, parquet or markdown, to `out` or, for
    the text formats, to `stream`, without holding the result in memory."""
    _check_export(fmt, out)
    con = open_published(db_path)
    try:
        export_rows(con, sql, fmt, out, stream)
    finally:
        con.close()


def _check_export(fmt: str, out: Path | None) -> None:
    if fmt not in EXPORT_FORMATS:
        raise QueryError(f"unknown format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    if out is None and fmt == "parquet":
        raise QueryError("--format parquet writes a file: give --out FILE.parquet")


def export_rows(
    con: duckdb.DuckDBPyConnection, sql: str, fmt: str, out: Path | None, stream: BinaryIO
) -> None:
    """export_query on an open connection (whose variables the SQL may read)."""
    _check_export(fmt, out)
    relation = _relation(con, sql)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
    try:
        if fmt == "markdown":
            if out is None:
                _write_markdown(con, relation, stream)
            else:
                with out.open("wb") as handle:
                    _write_markdown(con, relation, handle)
        elif out is not None:
            _copy(con, relation, fmt, str(out))
        else:
            _copy_to_stream(con, relation, fmt, stream)
    except duckdb.Error as exc:
        raise QueryError(_query_message(exc)) from None


def _copy(
    con: duckdb.DuckDBPyConnection, relation: duckdb.DuckDBPyRelation, fmt: str, path: str
) -> None:
    # COPY of the relation's own SQL: DuckDB's writers, streaming, in the query's row order.
    query = _statement(relation)
    con.execute(f"copy (\n{query}\n) to {sql_literal(path)} ({COPY_OPTIONS[fmt]})")


def _statement(relation: duckdb.DuckDBPyRelation) -> str:
    # The relation's SQL wrapped as a subquery: DuckDB drops the user's trailing `;` and comments.
    return relation.project("*").sql_query()


def _copy_to_stream(
    con: duckdb.DuckDBPyConnection, relation: duckdb.DuckDBPyRelation, fmt: str, stream: BinaryIO
) -> None:
    """COPY into a pipe that a thread drains into `stream`, so stdout gets DuckDB's own output
    as it is written (COPY to /dev/stdout would seek and overwrite when stdout is a file)."""
    read_end, write_end = os.pipe()
    failure: list[BaseException] = []

    def pump() -> None:
        with os.fdopen(read_end, "rb") as source:
            while chunk := source.read(1 << 16):
                try:
                    stream.write(chunk)
                except BrokenPipeError as exc:
                    # The reader (head, less) has gone: closing our end stops DuckDB's writes too.
                    failure.append(exc)
                    return

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        _copy(con, relation, fmt, f"/dev/fd/{write_end}")
    except duckdb.Error:
        if not failure:
            raise
    finally:
        os.close(write_end)
        thread.join()
    if failure:
        raise failure[0]
    stream.flush()


def _markdown_cell(value: object) -> str:
    text = "NULL" if value is None else str(value)
    return (
        text.replace("\\", "\\\\").replace("|", "\\|").replace("\r\n", "<br>").replace("\n", "<br>")
    )


def _write_markdown(
    con: duckdb.DuckDBPyConnection, relation: duckdb.DuckDBPyRelation, handle: BinaryIO
) -> None:
    """A GitHub-flavoured Markdown table of every row, fetched in batches."""
    numeric = [
        t.upper() in NUMERIC_TYPES or t.upper().startswith("DECIMAL")
        for t in map(str, relation.types)
    ]
    header = "| " + " | ".join(_markdown_cell(c) for c in relation.columns) + " |\n"
    rule = "|" + "|".join("---:" if n else "---" for n in numeric) + "|\n"
    handle.write((header + rule).encode("utf-8"))
    result = con.execute(_statement(relation))
    while rows := result.fetchmany(MARKDOWN_BATCH):
        lines = ["| " + " | ".join(_markdown_cell(v) for v in row) + " |\n" for row in rows]
        handle.write("".join(lines).encode("utf-8"))
    handle.flush()


NUMERIC_TYPES = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "DOUBLE",
}


# The list's order: what to act on first. Tier, then the revenue the risk puts in play, then risk.
PRIORITY_ORDER = (
    "case r.risk_tier when 'high' then 0 when 'medium' then 1 else 2 end, "
    "r.value_at_risk desc nulls last, r.risk_score desc, r.customer_id"
)


def pseudonymise(customer_ids: pd.Series, key: bytes) -> pd.Series:
    """Keyed HMAC-SHA256 of each id (first 16 hex digits): stable for one key, not reversible
    without it, so lists from several runs can be matched while the ids stay private."""
    if not key:
        raise QueryError("pseudonymising needs a non-empty key")
    return customer_ids.astype(str).map(
        lambda v: hmac.new(key, v.encode("utf-8"), hashlib.sha256).hexdigest()[:16]
    )


def write_churn_list(
    db_path: Path,
    out: Path,
    top: int | None = None,
    tiers: list[str] | None = None,
    pseudonym_key: bytes | None = None,
    states: list[str] | None = None,
) -> int:
    """Write the churn-risk list in priority order to CSV or Parquet by the file extension.

    tiers, states: keep only these risk tiers, customer states; pseudonym_key: replace customer
    ids by their keyed HMAC (see pseudonymise). Every row carries the list's warning (empty when
    the scores passed the gate), so a spreadsheet cut from the file keeps it.
    """
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise QueryError(f"{out}: use a .csv or .parquet file name")
    con = open_published(db_path)
    try:
        tables = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
        if "churn_risk" not in tables:
            raise QueryError(f"{db_path}: has no churn_risk table; re-run `cjm run`")
        persona = (
            "(select p.name from personas p where p.persona_id = r.persona_id)"
            if "personas" in tables
            else "null::varchar"
        )
        sql = f"""
            select row_number() over (order by {PRIORITY_ORDER}) as priority, r.*,
                   {persona} as persona_name
            from churn_risk r
        """
        params: list = []
        filters = []
        for column, values in (("risk_tier", tiers), ("customer_state", states)):
            if values:
                filters.append(f"r.{column} in (select unnest(?::varchar[]))")
                params.append(list(values))
        if filters:
            sql += " where " + " and ".join(filters)
        sql += f" order by {PRIORITY_ORDER}"
        if top is not None:
            sql += " limit ?"
            params.append(int(top))
        frame = con.execute(sql, params).df()
        frame["warning"] = "; ".join(read_churn_card(con).get("warnings") or [])
    finally:
        con.close()
    if pseudonym_key is not None:
        frame["customer_id"] = pseudonymise(frame["customer_id"], pseudonym_key)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        # Text always quoted: a bare carriage return in a value would otherwise split the row.
        escape_formulas(frame).to_csv(out, index=False, quoting=csv.QUOTE_NONNUMERIC)
    else:
        frame.to_parquet(out, index=False)
    return len(frame)


def churn_list_warnings(db_path: Path) -> list[str]:
    """The published churn list's warnings (the model card's), to show beside the list."""
    con = open_published(db_path)
    try:
        return list(read_churn_card(con).get("warnings") or [])
    finally:
        con.close()


def read_churn_card(con: duckdb.DuckDBPyConnection) -> dict:
    """The published churn model card (item -> value); empty when the database has none."""
    if not table_exists(con, "churn_model_card"):
        return {}
    rows = con.execute("select item, value from churn_model_card").fetchall()
    return {item: json.loads(value) if value else None for item, value in rows}


def escape_formula(value: object) -> object:
    """Prefix text a spreadsheet would run as a formula with a quote, so it shows as text."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def escape_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells cannot run as formulas when opened as CSV."""
    frame = frame.copy()
    for column in frame.columns:
        if not (pd.api.types.is_numeric_dtype(frame[column]) or _is_time(frame[column])):
            frame[column] = frame[column].map(escape_formula)
    return frame


def _is_time(series: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(series) or isinstance(
        series.dtype, pd.DatetimeTZDtype
    )


def explain_churn_model(db_path: Path) -> str:
    """The churn model card in plain text: definition, features, training window, metrics and
    calibration, as the published database holds them."""
    con = open_published(db_path)
    try:
        tables = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
        if "churn_model_card" not in tables:
            raise QueryError(f"{db_path}: has no churn_model_card table; re-run `cjm run`")
        card = read_churn_card(con)
        metrics = con.execute("select * from churn_model_metrics").df()
        calibration = (
            con.execute("select * from churn_model_calibration order by model, bin").df()
            if "churn_model_calibration" in tables
            else pd.DataFrame()
        )
    finally:
        con.close()
    lines = [f"Churn model: {card.get('status')}"]
    if card.get("reason"):
        lines.append(f"  note: {card['reason']}")
    definition = card.get("definition") or {}
    if definition:
        lines.append(f"Definition: {definition.get('note')}")
    if card.get("question"):
        lines.append(f"Question: {card['question']}")
    if card.get("score_source"):
        trust = "tiers given" if card.get("trusted") else "not trusted: no tiers"
        lines.append(f"Scores from: {card['score_source']} ({trust}); {card.get('choice')}")
    lines.append(f"Scored at: {card.get('scored_at')}")
    cutoffs = card.get("cutoffs") or []
    if cutoffs:
        lines.append(
            f"Training window: {len(cutoffs)} cutoffs from {cutoffs[0]} to {cutoffs[-1]}; "
            f"holdout cutoff {card.get('holdout_cutoff')}"
        )
    if card.get("estimator"):
        lines.append(f"Estimator: {card['estimator']}")
        lines.append(f"Training rows: {card.get('training_sample')}")
    for warning in card.get("warnings") or []:
        lines.append(f"Warning: {warning}")
    columns = [
        "model",
        "roc_auc",
        "roc_auc_low",
        "roc_auc_high",
        "pr_auc",
        "precision_at_top10pct",
        "brier",
        "n_holdout",
    ]
    lines += [
        "",
        "Forward holdout metrics:",
        metrics.reindex(columns=columns).to_string(index=False),
    ]
    if len(calibration):
        cal = calibration[
            ["model", "bin_low", "bin_high", "mean_predicted", "observed_rate", "count"]
        ]
        lines += ["", "Calibration (holdout):", cal.to_string(index=False)]
    descriptions = card.get("feature_descriptions") or {}
    if descriptions:
        lines += ["", f"Features ({len(descriptions)}):"]
        lines += [f"  {name}: {text}" for name, text in descriptions.items()]
    return "\n".join(lines)
