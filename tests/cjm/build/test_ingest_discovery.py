"""Which files a run reads: compressed text files are read, every other path is listed."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess

import pytest

from cjm.build.files import IngestError, discover_files, skip_reason
from cjm.build.manifest import full_plan
from cjm.config import Config
from tests.conftest import build
from tests.published import publish_journeys

HEADER = "customer_id,event_time,touchpoint\n"


def _landing(tmp_path):
    """A landing folder with every kind of path a directory may hold."""
    root = tmp_path / "landing"
    (root / "sub").mkdir(parents=True)
    (root / "a.csv").write_text(HEADER + "c1,2026-01-01T10:00:00Z,view\n", encoding="utf-8")
    (root / "b.csv.gz").write_bytes(
        gzip.compress((HEADER + "c2,2026-01-01T10:00:00Z,view\n" * 2).encode())
    )
    (root / "sub" / "c.jsonl.gz").write_bytes(
        gzip.compress(b'{"customer_id": "c3", "event_time": 1767261600, "touchpoint": "cart"}\n')
    )
    (root / "empty.csv").write_bytes(b"")
    (root / "empty.csv.gz").write_bytes(b"")
    (root / "notes.xlsx").write_bytes(b"PK\x03\x04")
    (root / "events.parquet.gz").write_bytes(b"")
    (root / "sub" / "up").symlink_to("..")  # a loop: the folder that holds it
    (root / "self").symlink_to("self")  # a link that resolves to itself
    (root / "gone.csv").symlink_to("nowhere.csv")
    return root


def test_a_directory_lists_every_path_and_reads_only_event_files(tmp_path):
    root = _landing(tmp_path)
    found = {p.relative_to(root).as_posix(): skip_reason(p) for p in discover_files(root)}
    assert {name for name, reason in found.items() if reason is None} == {
        "a.csv",
        "b.csv.gz",
        "sub/c.jsonl.gz",
        "empty.csv",
        "empty.csv.gz",
    }
    assert found["notes.xlsx"].startswith("unknown file type '.xlsx'")
    assert found["events.parquet.gz"].startswith("unknown file type '.parquet.gz'")
    assert found["sub/up"].startswith(f"symlink loop: points to {root.resolve()}")
    assert found["self"] == "symlink loop: the link resolves to itself"
    assert found["gone.csv"].startswith("broken symlink")


def test_skipped_paths_are_in_file_loads_with_their_reason_and_reconcile(tmp_path):
    root = _landing(tmp_path)
    con = build(root)
    rows = con.execute(
        "select regexp_replace(source_file, '^.*/landing/', ''), status, rows_read, "
        "rows_accepted, rows_duplicate, rows_rejected, is_reconciled, reason is not null "
        "from file_loads order by 1"
    ).fetchall()
    assert rows == [
        ("a.csv", "loaded", 1, 1, 0, 0, True, False),
        ("b.csv.gz", "loaded", 2, 1, 1, 0, True, False),
        ("empty.csv", "loaded", 0, 0, 0, 0, True, False),
        ("empty.csv.gz", "loaded", 0, 0, 0, 0, True, False),
        ("events.parquet.gz", "skipped", 0, 0, 0, 0, True, True),
        ("gone.csv", "skipped", 0, 0, 0, 0, True, True),
        ("notes.xlsx", "skipped", 0, 0, 0, 0, True, True),
        ("self", "skipped", 0, 0, 0, 0, True, True),
        ("sub/c.jsonl.gz", "loaded", 1, 1, 0, 0, True, False),
        ("sub/up", "skipped", 0, 0, 0, 0, True, True),
    ]
    assert con.execute("select customer_id from events order by 1").fetchall() == [
        ("c1",),
        ("c2",),
        ("c3",),
    ]


def test_the_run_summary_names_each_skipped_path(tmp_path):
    root = _landing(tmp_path)
    plan = full_plan(discover_files(root), Config())
    assert sorted(p.name for p in plan.files) == [
        "a.csv",
        "b.csv.gz",
        "c.jsonl.gz",
        "empty.csv",
        "empty.csv.gz",
    ]
    notes = "\n".join(plan.notes)
    for name in ("notes.xlsx", "events.parquet.gz", "up", "self", "gone.csv"):
        assert f"skipped {root}/" in notes and f"/{name}: " in notes, name


@pytest.mark.skipif(shutil.which("zstd") is None, reason="needs the zstd command")
def test_zstd_files_are_read(tmp_path):
    plain = tmp_path / "e.csv"
    plain.write_text(HEADER + "c1,2026-01-01T10:00:00Z,view\n", encoding="utf-8")
    subprocess.run(["zstd", "-q", str(plain), "-o", str(tmp_path / "e.csv.zst")], check=True)
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n \n", encoding="utf-8")
    subprocess.run(["zstd", "-q", str(blank), "-o", str(tmp_path / "b.jsonl.zst")], check=True)
    con = build([tmp_path / "e.csv.zst", tmp_path / "b.jsonl.zst"])
    assert con.execute(
        "select regexp_extract(source_file, '[^/]+$'), file_format, rows_read, rows_accepted "
        "from file_loads order by 1"
    ).fetchall() == [("b.jsonl.zst", "jsonl", 0, 0), ("e.csv.zst", "csv", 1, 1)]


def test_a_file_named_on_its_own_must_be_an_event_file(tmp_path):
    (tmp_path / "notes.xlsx").write_bytes(b"")
    with pytest.raises(IngestError, match=r"notes\.xlsx: unknown file type"):
        discover_files(tmp_path / "notes.xlsx")
    # a glob that matches a link to another directory lists it, not as a loop
    (tmp_path / "other").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "other")
    (tmp_path / "a.csv").write_text(HEADER + "c1,2026-01-01T10:00:00Z,view\n", encoding="utf-8")
    found = {p.name: skip_reason(p) for p in discover_files(str(tmp_path / "*"))}
    assert found["a.csv"] is None
    assert found["link"].startswith(f"a link to the directory {tmp_path / 'other'}")
    (tmp_path / "a.csv").unlink()
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    with pytest.raises(IngestError, match=r"loop: symlink loop"):
        discover_files(tmp_path / "loop")
    with pytest.raises(IngestError, match="no event files"):
        discover_files(tmp_path)


def test_an_incremental_run_lists_the_paths_it_skipped_not_earlier_ones(tmp_path):
    from cjm.db import connect

    landing, db, config = tmp_path / "landing", tmp_path / "cjm.duckdb", Config()
    landing.mkdir()
    (landing / "a.csv").write_text(HEADER + "c1,2026-01-01T10:00:00Z,view\n", encoding="utf-8")
    (landing / "old.bak").write_text("x", encoding="utf-8")
    publish_journeys(landing, db, config)
    with connect(db) as con:
        # as published before files were listed as skipped
        con.execute("delete from file_loads where status = 'skipped'")
        con.execute("alter table file_loads drop column status")
        con.execute("alter table file_loads drop column reason")
    (landing / "old.bak").unlink()
    (landing / "b.csv.gz").write_bytes(
        gzip.compress((HEADER + "c2,2026-01-02T10:00:00Z,cart\n").encode())
    )
    (landing / "new.bak").write_text("x", encoding="utf-8")
    plan = publish_journeys(landing, db, config)
    assert plan.mode == "incremental" and [p.name for p in plan.files] == ["b.csv.gz"]
    assert plan.skipped == [(str(landing.resolve() / "new.bak"), plan.skipped[0][1])]
    with connect(db, read_only=True) as con:
        assert con.execute(
            "select regexp_extract(source_file, '[^/]+$'), status, rows_read, rows_accepted, "
            "is_reconciled from file_loads order by 1"
        ).fetchall() == [
            ("a.csv", "loaded", 1, 1, True),
            ("b.csv.gz", "loaded", 1, 1, True),
            ("new.bak", "skipped", 0, 0, True),
        ]
