"""The storage format of the files cjm writes: readable by the oldest DuckDB line supported."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import duckdb
import pytest

from cjm.config import ConfigError, parse_config
from cjm.db import connect, copy_database, storage_version

READ_EVERY_TABLE = """
import json, sys
import duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
tables = [r[0] for r in con.execute(
    "select table_name from duckdb_tables() where schema_name = 'main' order by 1").fetchall()]
counts = {t: len(con.execute(f'select * from "{t}"').fetchall()) for t in tables}
extras = {
    "comments": con.execute("select count(comment) from duckdb_tables()").fetchone()[0],
    "schema_rows": con.execute("select count(*) from cjm_schema").fetchone()[0],
    "anchored": len(con.sql("from anchored_paths_for('payment_error', 2, 3)").fetchall()),
}
print(json.dumps({"version": duckdb.__version__, "counts": counts, **extras}))
"""


def _tables(con):
    return [
        r[0]
        for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'main' order by 1"
        ).fetchall()
    ]


def test_default_storage_version_is_the_oldest_supported_line():
    assert parse_config({}).duckdb_storage_version == "v1.4.0"
    with pytest.raises(ConfigError, match="duckdb_storage_version"):
        parse_config({"duckdb_storage_version": "v9.1"})


def test_new_file_takes_the_storage_version_and_keeps_it(tmp_path):
    path = tmp_path / "build.duckdb"
    with connect(path, storage_version="v1.4.0") as con:
        con.execute("create table t as select range as i from range(10)")
        assert storage_version(con) == "v1.4.0"
    # reopened without the option (as publishing does), the file keeps its format
    with connect(path) as con:
        con.execute("create table u as select 'x' as s")
        assert storage_version(con) == "v1.4.0"
    with connect(tmp_path / "latest.duckdb") as con:
        assert storage_version(con) not in ("", "v1.4.0")


def test_copy_database_converts_the_format_and_keeps_every_row(tmp_path):
    source, target = tmp_path / "published.duckdb", tmp_path / "build.duckdb"
    with connect(source) as con:  # the running DuckDB's own format, as older cjm wrote it
        con.execute("create table t as select range as i, 'c' || range as s from range(1000)")
        con.execute("create view v as select count(*) as n from t")
        latest = storage_version(con)
    copy_database(source, target, "v1.4.0")
    with connect(target, read_only=True) as con:
        assert storage_version(con) == "v1.4.0"
        assert con.execute("select n from v").fetchall() == [(1000,)]
        assert con.execute("select sum(i), max(s) from t").fetchall() == [(499500, "c999")]
    # a file already in the asked format is copied byte for byte
    again = tmp_path / "again.duckdb"
    copy_database(target, again, "v1.4.0")
    assert again.read_bytes() == target.read_bytes()
    copy_database(source, again, "latest")
    assert again.read_bytes() == source.read_bytes() and latest != "v1.4.0"


def test_published_sample_is_written_in_the_configured_format(published_sample):
    with connect(published_sample, read_only=True) as con:
        assert storage_version(con) == "v1.4.0"


@pytest.mark.slow
def test_oldest_supported_duckdb_reads_every_published_table(published_sample, tmp_path):
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is needed to make the environment of the older DuckDB")
    venv = tmp_path / "duckdb14"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    # pytz: DuckDB 1.4 needs it to hand time-zoned timestamps to Python
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "duckdb==1.4.*"]
        + ["pytz"],
        check=True,
    )
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", READ_EVERY_TABLE, str(published_sample)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    read = json.loads(out)
    assert read["version"].startswith("1.4.")
    with duckdb.connect(str(published_sample), read_only=True) as con:
        tables = _tables(con)
        counts = {t: con.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables}
        anchored = con.execute("select count(*) from anchored_paths_for('payment_error', 2, 3)")
        anchored = anchored.fetchone()[0]
        schema_rows = con.execute("select count(*) from cjm_schema").fetchone()[0]
    assert len(tables) > 20 and read["counts"] == counts
    # the comments, the cjm_schema view and the path macros work in DuckDB 1.4 as well
    assert read["comments"] == len(tables)
    assert read["schema_rows"] == schema_rows > 0 and read["anchored"] == anchored > 0
