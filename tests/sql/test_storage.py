"""How the build stores what it computes: text cleaning, column compression, events columns."""

from __future__ import annotations

import duckdb

from cjm.build.models import (
    EVENTS_COLUMNS,
    LAST_LOAD_READER,
    PER_CUSTOMER,
    TEMPORARY,
    UNCOMPRESSED,
    VALIDATED,
    VIEWS,
    declared_models,
    model_files,
    model_plan,
)
from cjm.build.parameters import set_parameters
from cjm.config import Config
from tests.conftest import build, column_compression, write_csv

# Every character DuckDB's trim() strips (the Unicode space separators) and some it keeps.
SPACES = [" ", "\u00a0", "\u1680", "\u2000", "\u200a", "\u202f", "\u205f", "\u3000"]
KEPT = ["\t", "\n", "\u200b", "x", "é"]


def test_clean_text_equals_trim_and_empty_as_null():
    con = duckdb.connect()
    set_parameters(con, Config())
    values = ["", "a", "a b", "é", "日本", None]
    values += [s + "v" for s in SPACES] + ["v" + s for s in SPACES] + [s * 3 for s in SPACES]
    values += [k + "v" + k for k in KEPT] + ["\u00a0é\u3000", " é", "é "]
    con.execute("create table t (value varchar)")
    con.executemany("insert into t values (?)", [[v] for v in values])
    differing = con.execute(
        "select value from t where cjm_clean_text(value) is distinct from nullif(trim(value), '')"
    ).fetchall()
    assert differing == []
    assert con.execute("select cjm_clean_text(' \u3000 a b\u00a0 ')").fetchone()[0] == "a b"
    assert con.execute("select cjm_clean_text(' \u3000 ')").fetchone()[0] is None


def test_event_and_session_ids_are_stored_uncompressed(tmp_path):
    rows = [
        {
            "event_id": f"{i * 7919 % 10007:05d}-{i:04d}-e",
            "customer_id": f"c{i % 40}",
            "event_time": f"2026-01-01T{i // 60 % 24:02d}:{i % 60:02d}:00Z",
            "touchpoint": ["view", "cart", "purchase"][i % 3],
        }
        for i in range(3000)
    ]
    con = build([write_csv(tmp_path / "events.csv", rows)], db=tmp_path / "build.duckdb")
    con.execute("checkpoint")
    for table, column in (
        ("events", "event_id"),
        ("events", "session_id"),
        ("sessions", "session_id"),
    ):
        assert column_compression(con, table, column) == {"Uncompressed"}, (table, column)
    # every other text column is left to DuckDB's choice
    assert column_compression(con, "events", "touchpoint") != {"Uncompressed"}


def test_events_mart_has_the_columns_incremental_runs_check_for(tmp_path):
    rows = [{"customer_id": "c1", "event_time": "2026-01-01T10:00:00Z", "touchpoint": "view"}]
    con = build([write_csv(tmp_path / "e.csv", rows)])
    built = [r[0] for r in con.execute("select column_name from (describe events)").fetchall()]
    assert built == list(EVENTS_COLUMNS)


def test_load_tables_are_dropped_before_the_per_customer_marts(tmp_path):
    rows = [
        {"customer_id": "c1", "event_time": "2026-01-01T10:00:00Z", "touchpoint": "view"},
        {"customer_id": "c1", "event_time": "2026-01-01T10:00:00Z", "touchpoint": "view"},
        {"customer_id": "", "event_time": "2026-01-01T10:05:00Z", "touchpoint": "cart"},
    ]
    con = build([write_csv(tmp_path / "e.csv", rows)])
    tables = {name for (name,) in con.execute("select table_name from duckdb_tables()").fetchall()}
    assert {"events", "sessions", "file_loads"} <= tables
    assert set(TEMPORARY) & tables == set()
    assert "int_events_validated" not in tables  # CSV times are text: a table, dropped here too
    # what the dropped tables fed is all there: one accepted, one duplicate, one rejected row
    assert con.execute(
        "select rows_accepted, rows_duplicate, rows_rejected from file_loads"
    ).fetchall() == [(1, 1, 1)]
    assert con.execute("select count(*) from sessions").fetchone()[0] == 1
    plan = [name for _, name in model_plan()]
    assert plan.index(LAST_LOAD_READER) < plan.index("sessions")


def test_materialisation_is_read_from_the_properties_files():
    assert set(VIEWS) == {
        "stg_events",
        "stg_customer_attributes",
        "int_events_deduplicated",
        "int_events_stitched",
        "int_events_sessionised",
        "int_transition_steps",
        "int_transition_edges",
        "int_transition_seconds",
        "int_prior_events",
        "int_funnel_steps",
    }
    assert set(TEMPORARY) == {"int_event_duplicates", "int_identity_map", "int_file_touchpoints"}
    assert UNCOMPRESSED == {"events": ("event_id", "session_id"), "sessions": ("session_id",)}
    assert VALIDATED == "int_events_validated"
    assert LAST_LOAD_READER == "file_loads"
    assert PER_CUSTOMER == (
        "int_events_sessionised",
        "events",
        "sessions",
        "journeys",
        "int_transition_steps",
        "int_transition_edges",
    )
    # every model the runner builds is declared, once, beside its SQL
    declared = declared_models()
    assert {name for _, name in model_plan()} | {"int_transition_seconds"} <= set(declared)


def test_every_staging_and_intermediate_model_is_declared():
    declared = declared_models()
    undeclared = {n for layer, n in model_files() if layer != "marts" and n not in declared}
    # not materialised under their own name: rows inserted into transitions
    # (cjm.graphs.segments), and the view int_transition_edges of a partitioned run
    # (cjm.build.partition)
    assert undeclared == {"int_segment_transitions", "int_transition_edges_combined"}


def test_built_models_are_what_the_properties_files_declare(tmp_path):
    rows = [
        {"customer_id": "c1", "event_time": "2026-01-01T10:00:00Z", "touchpoint": "view"},
        {"customer_id": "c1", "event_time": "2026-01-01T10:05:00Z", "touchpoint": "cart"},
    ]
    con = build([write_csv(tmp_path / "e.csv", rows)])
    views = {r[0] for r in con.execute("select view_name from duckdb_views()").fetchall()}
    tables = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
    for _, name in model_plan():
        kind = declared_models()[name]["config"]["materialized"]
        if name in TEMPORARY or name == "int_events_validated":
            assert name not in views | tables, name  # dropped after file_loads
        elif kind == "view":
            assert name in views and name not in tables, name
        else:
            assert name in tables and name not in views, name
