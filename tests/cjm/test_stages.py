"""cjm.stages.STAGES is the one list of analytic stages: every step that is one is in it, and a
publish through tests/published.py (which iterates it) writes every declared table."""

from __future__ import annotations

import inspect

import duckdb

from cjm import stages, steps
from cjm.build.catalog import read_schema
from cjm.build.customers import TABLES as CUSTOMER_TABLES
from cjm.graphs import stages as graph_stages

# The modules that hold stage functions: every public function there that works on a build file
# (first parameter build_path) is a stage of STAGES.
STAGE_MODULES = (stages, graph_stages)

# The steps of cjm.steps, none of which is an analytic stage: the load, the SQL models (whole or
# partitioned), the guard rails, finishing, logging, and what follows publishing.
NOT_STAGES = {
    "open_build",
    "plan_load",
    "reuse_published",
    "load_events",
    "build_journeys",
    "export_partitions",
    "build_partition",
    "combine_partitions",
    "check_guard_rails",
    "finish_run",
    "note_interrupted_run",
    "add_summary",
    "log_run",
    "log_failure",
    "run_artifacts",
    "report_path_for",
    "write_report",
    "published_message",
    "run_summary",
}


def _public_functions(module) -> dict[str, object]:
    return {
        name: fn
        for name, fn in inspect.getmembers(module, inspect.isfunction)
        if fn.__module__ == module.__name__ and not name.startswith("_")
    }


def test_every_stage_function_is_in_stages_once_in_run_order():
    found = {
        fn
        for module in STAGE_MODULES
        for fn in _public_functions(module).values()
        if next(iter(inspect.signature(fn).parameters), None) == "build_path"
    }
    in_stages = [stage.step for stage in stages.STAGES]
    assert set(in_stages) == found
    assert len(set(in_stages)) == len(in_stages)
    assert stages.stage_names() == [step.__name__ for step in in_stages]


def test_no_step_of_a_run_is_an_analytic_stage_left_out_of_stages():
    # A new analytic stage written in cjm.steps would run in no flow: it belongs in STAGES.
    assert set(_public_functions(steps)) == NOT_STAGES


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
