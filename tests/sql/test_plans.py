"""No model buffers every event for a second reader.

DuckDB materialises a CTE that more than one part of a query reads: a CTE that only selects columns
of events (or the steps built from them) is then copied whole into memory, and at 100M events that
copy spilled (transitions 54 s against 22 s) or ran out of memory under an 8 GB limit. These
models mark such CTEs `not materialized`, or read big inputs once; the plans must keep it so."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest

from cjm.build.models import model_sql, run_model
from cjm.build.parameters import set_parameters
from cjm.config import load_config
from cjm.graphs.segments import build_customer_segments
from cjm.journeys.paths import set_path_parameters
from tests.conftest import SAMPLE_DIR

# model -> the CTEs of it (or of the views it reads) that hold one row per event or per step
PER_EVENT_CTES = {
    ("marts", "transitions"): {"events", "steps"},
    ("intermediate", "int_segment_transitions"): {"events", "steps"},
    ("intermediate", "int_touchpoint_revisits"): {"events", "steps"},
    ("intermediate", "int_transition_seconds"): {"events", "steps"},
    ("marts", "transition_cycles"): {"events", "windows", "flagged"},
    ("marts", "between_paths"): {"events"},
    ("marts", "anchored_paths"): {"events"},
    ("marts", "path_variants"): {"events", "marked", "steps"},
    ("intermediate", "int_funnel_reached"): {"events"},
}


@pytest.fixture(scope="module")
def planner(published_sample: Path, tmp_path_factory) -> duckdb.DuckDBPyConnection:
    """The published sample with the build's transition and funnel-step views, the customer
    segments and the run's variables."""
    db = tmp_path_factory.mktemp("plans") / "cjm.duckdb"
    shutil.copyfile(published_sample, db)
    con = duckdb.connect(str(db))
    config = load_config(SAMPLE_DIR / "cjm.yaml")
    set_parameters(con, config)
    set_path_parameters(
        con,
        anchors=["product_view"],
        between=config.paths.between,
        funnels=config.funnels,
    )
    build_customer_segments(con, config)
    con.execute("set variable cjm_segment_type = 'persona'")
    for name in ("int_transition_steps", "int_transition_edges", "int_funnel_steps"):
        run_model(con, "intermediate", name)  # all views
    yield con
    con.close()


def materialised_ctes(con: duckdb.DuckDBPyConnection, layer: str, name: str) -> set[str]:
    """The names of the CTEs DuckDB's plan of a model materialises."""
    body = model_sql(layer, name)
    plan = "\n".join(row[1] for row in con.execute(f"explain {body}").fetchall())
    return set(re.findall(r"CTE Name: (\w+)", plan))


@pytest.mark.parametrize(("layer", "name"), list(PER_EVENT_CTES))
def test_no_model_buffers_every_event_for_a_second_reader(planner, layer, name):
    assert not materialised_ctes(planner, layer, name) & PER_EVENT_CTES[(layer, name)]


def test_the_plan_check_sees_a_materialised_cte(planner):
    # the check itself: the same steps view with its events CTE left to DuckDB is buffered
    body = model_sql("intermediate", "int_transition_steps")
    assert "events as not materialized (" in body
    planner.execute(
        "create or replace view int_transition_steps as\n"
        + body.replace("events as not materialized (", "events as (")
    )
    try:
        assert "events" in materialised_ctes(planner, "marts", "transitions")
    finally:
        planner.execute(f"create or replace view int_transition_steps as\n{body}")
