"""cjm.stages.STAGES is the one list of analytic stages: every step that is one is in it, and a
publish through tests/published.py (which iterates it) writes every declared table."""

from __future__ import annotations

import inspect

import duckdb

from cjm import stages, steps
from cjm.build.catalog import read_schema
from cjm.build.customers import TABLES as CUSTOMER_TABLES

# The steps of cjm.steps that are not analytic stages: the load, the SQL models (whole or
# partitioned), the guard rails, finishing, logging, publishing and reporting.
NOT_STAGES = {
    "plan_load",
    "reuse_published",
    "load_events",
    "build_journeys",
    "export_partitions",
    "build_partition",
    "combine_partitions",
    "check_guard_rails",
    "finish_run",
    "log_run",
    "run_artifacts",
    "report_path_for",
    "write_report",
}


def test_every_step_is_a_stage_or_named_as_not_one():
    public = {
        name
        for name, fn in inspect.getmembers(steps, inspect.isfunction)
        if fn.__module__ == steps.__name__ and not name.startswith("_")
    }
    in_stages = {stage.step.__name__ for stage in stages.STAGES}
    assert public - NOT_STAGES == in_stages
    assert stages.stage_names() == [s.step.__name__ for s in stages.STAGES]
    assert len(set(stages.stage_names())) == len(stages.STAGES)


def test_a_stage_reads_the_published_file_when_its_step_takes_it():
    for stage in stages.STAGES:
        takes = {"db_path", "run_id"} <= set(inspect.signature(stage.step).parameters)
        assert stage.reads_published == takes, stage.name


def test_publish_log_writes_every_declared_table(published_sample):
    con = duckdb.connect(str(published_sample), read_only=True)
    try:
        tables = {r[0] for r in con.execute("show tables").fetchall()}
    finally:
        con.close()
    # all but the tables of a customers file, which the sample run is not given
    assert tables - {"cjm_schema"} == set(read_schema()) - set(CUSTOMER_TABLES)
