"""Broken CSV lines are charged to the file they are in, however many CSV files a run reads."""

from __future__ import annotations

from cjm.build.ingest import load_files
from cjm.config import Config
from cjm.db import connect

HEADER = "customer_id,event_time,touchpoint\n"


def test_second_csv_file_does_not_inherit_first_files_broken_lines(tmp_path):
    first = tmp_path / "a.csv"
    first.write_text(HEADER + "c1,2026-01-01T10:00:00Z,view\nc1,broken\nc1,2026-01-01,buy\n")
    second = tmp_path / "b.csv"
    second.write_text(HEADER + "c2,2026-01-02T10:00:00Z,view\nc2,2026-01-02,buy\n")
    con = connect()
    try:
        loads = load_files(con, [first, second], Config())
        rejects = con.execute("select source_file, source_row from raw_rejects").fetchall()
        rows = con.execute(
            "select source_file, source_row from raw_events order by source_file, source_row"
        ).fetchall()
    finally:
        con.close()
    assert [(x.rows_read, x.rows_unparseable) for x in loads] == [(3, 1), (2, 0)]
    assert rejects == [(str(first), 3)]
    assert rows == [(str(first), 2), (str(first), 4), (str(second), 2), (str(second), 3)]
