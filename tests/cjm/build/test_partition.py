"""Partitioned builds: stable buckets, exact combination of transition edges across buckets."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest

from cjm import steps
from cjm.build.files import discover_files
from cjm.build.partition import bucket_expression, partition_dir_for
from cjm.build.publish import discard_stale_builds
from cjm.config import ConfigError, load_config, parse_config, with_execution
from cjm.db import connect
from tests.conftest import REPO, SAMPLE_DIR, dataset, validation_kind, write_csv
from tests.pipelines.tables import differing_rows

EXAMPLES = REPO / "examples"
COMPARED = ("events", "sessions", "journeys", "transitions", "file_loads", "rejected_events")


def _bucket(customer_id: str, partitions: int) -> int:
    """The documented rule, computed without DuckDB: last 8 bytes of md5, little-endian, mod P."""
    return int.from_bytes(hashlib.md5(customer_id.encode()).digest()[8:], "little") % partitions


def test_buckets_follow_the_documented_md5_rule():
    ids = [f"cust_{i}" for i in range(200)] + ["anon:ä-1", "x"]
    con = duckdb.connect()
    con.execute("create table c as select unnest(?::varchar[]) as customer_id", [ids])
    got = dict(con.execute(f"select customer_id, {bucket_expression(7)} from c").fetchall())
    assert got == {c: _bucket(c, 7) for c in ids}
    assert set(got.values()) == set(range(7))


def _build(tmp_path: Path, files: list[Path], config, partitions: int | None) -> Path:
    build = tmp_path / f"build-{partitions}.duckdb"
    steps.load_events(build, files, config)
    if partitions is None:
        steps.build_journeys(build, config)
        return build
    config = config.model_copy(update={"partitions": partitions})
    part_dir = partition_dir_for(build)
    buckets = steps.export_partitions(build, config, part_dir)
    for bucket in buckets:
        steps.build_partition(part_dir, bucket, config)
    steps.combine_partitions(build, config, part_dir, buckets)
    return build


def _assert_same(split: Path, single: Path, where: str) -> None:
    # Doubles compare to 12 significant digits: a parallel sum's order moves the last bits.
    for table in COMPARED:
        assert differing_rows(split, single, table) == ([], []), (where, table)


def test_median_seconds_over_buckets_is_the_median_of_all_customers(tmp_path):
    # Four customers, one a -> b step each: 10, 20 and 30 s apart in bucket 0, 40 s in bucket 1.
    # The median of all four is 25 s; the median of the buckets' medians (20, 40) would be 30 s.
    customers = [f"c{i}" for i in range(30)]
    chosen = [c for c in customers if _bucket(c, 2) == 0][:3]
    chosen += [c for c in customers if _bucket(c, 2) == 1][:1]
    assert len(chosen) == 4
    ordered = sorted(chosen, key=lambda c: (_bucket(c, 2), c))
    gaps = dict(zip(ordered, (10, 20, 30, 40), strict=True))
    rows = []
    for customer, gap in gaps.items():
        for touchpoint, second in (("a", 0), ("b", gap)):
            at = f"2024-03-01T10:00:{second:02d}Z"
            rows.append({"customer_id": customer, "event_time": at, "touchpoint": touchpoint})
    files = [write_csv(tmp_path / "events.csv", rows)]
    config = parse_config({})
    single = _build(tmp_path, files, config, None)
    split = _build(tmp_path, files, config, 2)
    sql = (
        "select scope, transition_count, customer_count, median_seconds from transitions "
        "where from_touchpoint = 'a' and to_touchpoint = 'b' order by scope"
    )
    with connect(split, read_only=True) as con:
        assert con.execute(sql).fetchall() == [("journey", 4, 4, 25.0), ("session", 4, 4, 25.0)]
    _assert_same(split, single, "golden")


@pytest.mark.slow
def test_partitioned_build_equals_single_build_on_sample_and_real_log(tmp_path):
    logs = (
        ("sample", discover_files(SAMPLE_DIR / "events"), SAMPLE_DIR / "cjm.yaml"),
        ("helpdesk", [dataset("helpdesk", "helpdesk.csv")], EXAMPLES / "helpdesk.yaml"),
    )
    for name, files, config_path in logs:
        config = load_config(config_path)
        run_dir = tmp_path / name
        run_dir.mkdir()
        single = _build(run_dir, files, config, None)
        split = _build(run_dir, files, config, 5)
        _assert_same(split, single, name)


@pytest.mark.slow
def test_partitioned_build_equals_single_build_with_validation_as_a_view(tmp_path):
    # The sample's Parquet file alone: every event time is TIMESTAMPTZ, so validation is a view
    # that each reader parses again, the buckets' export included.
    files = [SAMPLE_DIR / "events" / "events_store.parquet"]
    config = load_config(SAMPLE_DIR / "cjm.yaml")
    single = _build(tmp_path, files, config, None)
    split = _build(tmp_path, files, config, 3)
    with connect(single, read_only=True) as con:
        assert validation_kind(con) == "view"
        assert con.execute(
            "select rows_read, rows_accepted > 12000, rows_duplicate > 0, rows_rejected > 0 "
            "from file_loads"
        ).fetchone() == (12640, True, True, True)
    _assert_same(split, single, "typed parquet")


def test_a_log_with_nothing_accepted_builds_the_same_empty_tables(tmp_path):
    rows = [{"customer_id": "c1", "event_time": "not a time", "touchpoint": "a"}] * 3
    files = [write_csv(tmp_path / "events.csv", rows)]
    config = parse_config({})
    single = _build(tmp_path, files, config, None)
    split = _build(tmp_path, files, config, 4)
    _assert_same(split, single, "nothing accepted")
    with connect(split, read_only=True) as con:
        assert con.execute("select count(*) from rejected_events").fetchone() == (3,)
        assert con.execute("select count(*) from transitions").fetchone() == (0,)


def test_stale_bucket_files_of_a_killed_run_are_removed(tmp_path):
    db = tmp_path / "cjm.duckdb"
    parts = partition_dir_for(tmp_path / ".cjm.duckdb.build-20240101T000000Z-dead")
    (parts / "input" / "bucket=0").mkdir(parents=True)
    (parts / "input" / "bucket=0" / "data_0.parquet").write_bytes(b"x")
    assert parts in discard_stale_builds(db)
    assert not parts.exists()


def test_execution_settings_are_validated_and_overridden_from_the_command_line():
    config = parse_config({"partitions": 3, "random_state": 5})
    assert config.is_partitioned and not parse_config({}).is_partitioned
    assert parse_config({"task_runner": "dask"}).is_partitioned
    assert with_execution(config) is config
    dask = with_execution(config, task_runner="dask", dask_address="tcp://127.0.0.1:8786")
    assert (dask.partitions, dask.task_runner, dask.random_state) == (3, "dask", 5)
    with pytest.raises(ConfigError, match="dask_address is set but task_runner is not 'dask'"):
        parse_config({"dask_address": "tcp://127.0.0.1:8786"})
    with pytest.raises(ConfigError, match="partitions"):
        with_execution(config, partitions=0)
