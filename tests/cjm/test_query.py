"""`cjm query`'s capped terminal view and full exports."""

from __future__ import annotations

import io
import json

import duckdb
import pandas as pd
import pytest

from cjm.cli.main import main
from cjm.cli.parser import build_parser
from cjm.query import QueryError, export_query, show_query


def _wide_table(tmp_path, rows=500):
    """A published file with `rows` rows: a number, a short label and a 104-character text."""
    db = tmp_path / "wide.duckdb"
    con = duckdb.connect(str(db))
    con.execute(
        "create table t as select range as n, 'row ' || range as label, "
        "repeat('w', 100) || lpad(range::varchar, 4, '0') as wide, range * 0.5 as half "
        f"from range({rows})"
    )
    con.close()
    return db


def _body(text):
    """The data lines of a drawn table (between the header rule and the closing line)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("├"))
    end = next(i for i, line in enumerate(lines) if line.startswith("└"))
    return lines[start + 1 : end]


def test_show_caps_rows_and_counts_the_rest(tmp_path):
    db = _wide_table(tmp_path)
    text = show_query(db, "select * from t order by n desc", max_rows=10, max_col_width=20)
    body = _body(text)
    assert len(body) == 10
    assert [int(line.split("│")[1]) for line in body] == list(range(499, 489, -1))
    assert text.splitlines()[-1].startswith("490 more rows (500 in all;")
    # text left-aligned, numbers right-aligned, wide text cut to the column width with an ellipsis
    cells = body[0].split("│")
    assert cells[2].startswith(" row 499 ") and cells[1].endswith(" 499 ")
    assert cells[3].strip() == "w" * 19 + "\u2026"
    assert "w" * 20 not in text


def test_show_small_result_has_no_more_line(tmp_path):
    db = _wide_table(tmp_path, rows=3)
    text = show_query(db, "select n, label from t order by n;", max_rows=10, max_col_width=40)
    assert len(_body(text)) == 3 and "more rows" not in text
    assert "0 rows" in show_query(db, "select n from t where false", max_rows=5, max_col_width=9)


def test_show_refuses_writes_and_non_queries(tmp_path):
    db = _wide_table(tmp_path, rows=3)
    with pytest.raises(QueryError, match="read-only"):
        show_query(db, "drop table t", max_rows=5, max_col_width=40)
    with pytest.raises(QueryError, match="max-rows"):
        show_query(db, "select 1", max_rows=0, max_col_width=40)


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet", "markdown"])
def test_export_writes_every_row_untruncated(tmp_path, fmt):
    db = _wide_table(tmp_path)
    out = tmp_path / "out" / f"result.{fmt}"
    export_query(db, "select * from t order by n desc -- newest first\n;", fmt, out, io.BytesIO())
    if fmt == "csv":
        frame = pd.read_csv(out)
    elif fmt == "json":
        frame = pd.DataFrame(json.loads(out.read_text()))
    elif fmt == "parquet":
        frame = pd.read_parquet(out)
    else:
        lines = out.read_text().splitlines()
        assert lines[:2] == ["| n | label | wide | half |", "|---:|---|---|---:|"]
        rows = [line.strip("| ").split(" | ") for line in lines[2:]]
        frame = pd.DataFrame(rows, columns=["n", "label", "wide", "half"]).astype({"n": int})
    assert len(frame) == 500 and list(frame["n"])[:3] == [499, 498, 497]
    assert frame["wide"].iloc[0] == "w" * 100 + "0499"


@pytest.mark.parametrize("fmt", ["csv", "json", "markdown"])
def test_export_streams_text_formats(tmp_path, fmt):
    db = _wide_table(tmp_path, rows=70_000)
    stream = io.BytesIO()
    export_query(db, "select n, label from t order by n", fmt, None, stream)
    text = stream.getvalue().decode()
    assert "row 69999" in text and text.count("\n") >= 70_000


def test_export_parquet_needs_a_file(tmp_path):
    with pytest.raises(QueryError, match="--out"):
        export_query(_wide_table(tmp_path, rows=3), "select 1", "parquet", None, io.BytesIO())


def test_markdown_escapes_pipes_and_newlines(tmp_path):
    db = _wide_table(tmp_path, rows=1)
    stream = io.BytesIO()
    sql = "select 'a|b' as x, 'one' || chr(10) || 'two' as y, null as z"
    export_query(db, sql, "markdown", None, stream)
    assert stream.getvalue().decode().splitlines()[2] == "| a\\|b | one<br>two | NULL |"


def test_cli_query_options_and_help(tmp_path, capsys):
    db = _wide_table(tmp_path)
    assert main(["query", "select * from t", "--db", str(db), "--max-rows", "10"]) == 0
    out = capsys.readouterr().out
    assert len(_body(out)) == 10 and "490 more rows" in out
    assert main(["query", "select n from t", "--db", str(db), "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "499"
    out_file = tmp_path / "all.parquet"
    args = ["query", "select * from t", "--db", str(db), "--format", "parquet", "--out"]
    assert main([*args, str(out_file)]) == 0
    assert len(pd.read_parquet(out_file)) == 500
    assert main(["query", "select 1", "--db", str(db), "--out", str(out_file)]) == 2
    query = build_parser()._subparsers._group_actions[0].choices["query"]
    # every option but the switches (--help, --debug) states its default
    options = [a for a in query._actions if a.option_strings and a.dest not in ("help", "debug")]
    assert {a.dest for a in options} >= {"db", "format", "out", "max_rows", "max_col_width"}
    text = " ".join(query.format_help().split())
    assert all(f"(default: {a.default})" in text or "default" in a.help for a in options)
    assert any(a.dest == "sql" and a.help for a in query._actions)


class _ClosedAfterOneWrite(io.BytesIO):
    """A reader that goes away after the first chunk, as `| head` does."""

    def write(self, data):
        if self.tell():
            raise BrokenPipeError
        return super().write(data)


def test_export_stops_when_the_reader_goes(tmp_path):
    db = _wide_table(tmp_path, rows=1)
    # Only an export that kept going after the reader left would reach the error at the end.
    sql = (
        "select range as n, case when range >= 2999000 then error('exported to the end') "
        "else 'x' end as label from range(3000000)"
    )
    stream = _ClosedAfterOneWrite()
    with pytest.raises(BrokenPipeError):
        export_query(db, sql, "csv", None, stream)
    assert stream.getvalue().startswith(b"n,label\n0,x\n")


def test_exports_print_no_progress_bar(tmp_path, monkeypatch, capfd):
    import cjm.query

    db = _wide_table(tmp_path, rows=1)
    opened = cjm.query.open_published

    def eager_progress_bar(path, **settings):
        con = opened(path, **settings)
        con.execute("set progress_bar_time = 1")  # milliseconds
        return con

    monkeypatch.setattr(cjm.query, "open_published", eager_progress_bar)
    sql = "select count(distinct range % 1000003) as n from range(20000000)"
    export_query(db, sql, "csv", tmp_path / "n.csv", io.BytesIO())
    show_query(db, sql, max_rows=5, max_col_width=10)
    # DuckDB draws its progress bar on stdout, where a csv or json export may be going
    assert capfd.readouterr().out == ""
