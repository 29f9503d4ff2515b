"""Key tests generated from the `-- key:` header of every SQL model (read through
cjm.build.models): each mart's key is unique and not null in the published sample and is the key
sql/schema.yml declares; each keyed intermediate model a full build runs is checked right after it
is built."""

from __future__ import annotations

import pytest

from cjm.build.catalog import key_breaks, parse_schema, read_schema
from cjm.build.customers import TABLES as CUSTOMER_TABLES
from cjm.build.models import SQL_DIR, model_files, model_keys, model_plan
from cjm.config import load_config
from cjm.db import connect
from tests.conftest import SAMPLE_DIR, build

KEYS = model_keys()
MARTS = [name for layer, name in model_files() if layer == "marts"]
BUILT = {(layer, name) for layer, name in model_plan()}
# Keyed models a full single-process build of the sample does not run, and where they run; their
# keys are not checked here.
NOT_IN_A_FULL_BUILD = {
    "int_dedup_conflicts": "incremental runs (cjm.build.incremental)",
    "int_prior_events": "incremental runs (cjm.build.incremental)",
    "int_touched_customers": "incremental runs (cjm.build.incremental)",
    "int_transition_seconds": "partitioned runs, per bucket (cjm.build.partition)",
    "int_transition_edges_combined": "partitioned runs (cjm.build.partition)",
    "int_funnel_reached": "a temp table of the path step (cjm.journeys.paths); checked below "
    "through its published table macro",
    "int_funnel_steps": "a temp view of the path step (cjm.journeys.paths)",
    "int_segment_transitions": "inside the graph step (cjm.graphs.segments)",
    "int_touchpoint_revisits": "inside the graph step (cjm.graphs.metrics)",
    "stg_customer_attributes": "runs given a customers file (cjm.build.customers)",
}
# Marts only a run given a customers file publishes; their keys are checked on golden rows in
# tests/cjm/test_customers.py and on a flow run in tests/pipelines/test_customers_flow.py.
NOT_ON_THE_SAMPLE = set(CUSTOMER_TABLES)
# Marts the sample leaves empty, and where their keys are checked on rows instead.
EMPTY_ON_THE_SAMPLE = {
    "touchpoint_owners": "no resource column in the sample; tests/sql/test_kpi_marts.py (golden "
    "rows and the helpdesk log)",
}
CHECKED_WHILE_BUILDING = sorted(
    (layer, name) for layer, name in KEYS if layer != "marts" and (layer, name) in BUILT
)


def test_every_mart_declares_its_key_as_sql_schema_yml_does():
    declared = read_schema()
    for name in MARTS:
        assert KEYS.get(("marts", name)), f"sql/marts/{name}.sql declares no key"
        assert set(KEYS["marts", name]) == set(declared[name].key), name


def test_every_keyed_model_is_checked_or_named_as_not_built():
    unchecked = {name for layer, name in KEYS if layer != "marts"} - {
        name for _, name in CHECKED_WHILE_BUILDING
    }
    assert unchecked == set(NOT_IN_A_FULL_BUILD)


@pytest.mark.parametrize("name", sorted(set(MARTS) - NOT_ON_THE_SAMPLE))
def test_mart_key_is_unique_and_not_null(published_sample, name):
    with connect(published_sample, read_only=True) as con:
        rows = con.execute(f"select count(*) from {name}").fetchone()[0]
        assert (rows == 0) == (name in EMPTY_ON_THE_SAMPLE), f"{name}: {rows} rows"
        assert key_breaks(con, name, KEYS["marts", name]) == 0


@pytest.fixture(scope="module")
def built_breaks() -> dict[str, int]:
    """The sample's models built with a check of each keyed intermediate model right after it."""
    found: dict[str, int] = {}

    def check(name: str):
        def hook(con) -> None:
            found[name] = key_breaks(con, name, KEYS[layer_of[name], name])
            found[f"{name} rows"] = con.execute(f"select count(*) from {name}").fetchone()[0]

        return hook

    layer_of = {name: layer for layer, name in CHECKED_WHILE_BUILDING}
    hooks = {name: check(name) for name in layer_of}
    build(SAMPLE_DIR / "events", load_config(SAMPLE_DIR / "cjm.yaml"), hooks=hooks)
    return found


@pytest.mark.parametrize("layer, name", CHECKED_WHILE_BUILDING)
def test_intermediate_key_is_unique_and_not_null(built_breaks, layer, name):
    assert built_breaks[f"{name} rows"] > 0, "empty: no test"
    assert built_breaks[name] == 0


def test_a_broken_key_is_counted():
    with connect(":memory:") as con:
        con.execute(
            "create table t as select * from (values (1, 'a'), (1, 'a'), (null, 'b')) v(a, b)"
        )
        assert key_breaks(con, "t", ("a", "b")) == 2
        assert key_breaks(con, "t", ("b",)) == 1


def test_declared_intermediate_keys_are_the_headers():
    text = SQL_DIR.joinpath("intermediate", "schema.yml").read_text(encoding="utf-8")
    declared = {n: m.key for n, m in parse_schema(text, "intermediate/schema.yml").items() if m.key}
    assert declared, "no intermediate model declares its key"
    for name, key in declared.items():
        assert key == KEYS["intermediate", name], name


def test_funnel_reached_key_is_unique_and_not_null(published_sample):
    """The path step's temp table, rebuilt from the published macro for each configured funnel."""
    config = load_config(SAMPLE_DIR / "cjm.yaml")
    assert config.funnels, "the sample configures no funnel: no test"
    with connect(published_sample, read_only=True) as con:
        for touchpoints in config.funnels.values():
            con.execute(
                "create or replace temp table int_funnel_reached as "
                "select * from funnel_reached_for(?::varchar[])",
                [list(touchpoints)],
            )
            assert con.execute("select count(*) from int_funnel_reached").fetchone()[0] > 0
            assert (
                key_breaks(con, "int_funnel_reached", KEYS["intermediate", "int_funnel_reached"])
                == 0
            )
