"""Segmented transition graphs: golden segment rows, exact reconciliation, config segments."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from cjm import stages, steps
from cjm.build.files import discover_files
from cjm.config import ConfigError, load_config, parse_config
from cjm.db import write_table
from cjm.graphs import stages as graph_stages
from cjm.graphs.segments import add_segment_transitions, build_customer_segments
from tests.conftest import SAMPLE_DIR

ROWS = [
    {"customer_id": "c1", "event_time": "2026-01-01T09:00:00Z", "touchpoint": "a",
     "channel": "web", "device": "ios"},
    {"customer_id": "c1", "event_time": "2026-01-01T09:01:00Z", "touchpoint": "purchase",
     "channel": "web", "device": "android"},
    {"customer_id": "c2", "event_time": "2026-01-01T09:00:00Z", "touchpoint": "a"},
    {"customer_id": "c2", "event_time": "2026-01-01T09:02:00Z", "touchpoint": "a",
     "channel": "email"},
    {"customer_id": "c2", "event_time": "2026-01-01T09:03:00Z", "touchpoint": "b",
     "channel": "email", "device": "web"},
    {"customer_id": "c3", "event_time": "2026-01-01T09:00:00Z", "touchpoint": "b"},
]  # fmt: skip


def segmented(build_rows, config: dict | None = None):
    """The golden log with personas P1 (c1, c2) and P2 (c3); c3 has no churn state."""
    con = build_rows(ROWS, config)
    write_table(
        con,
        "customer_personas",
        pd.DataFrame({"customer_id": ["c1", "c2", "c3"], "persona_id": ["P1", "P1", "P2"]}),
    )
    write_table(
        con,
        "customer_churn_state",
        pd.DataFrame({"customer_id": ["c1", "c2"], "is_churned": [True, False]}),
    )
    build_customer_segments(con, parse_config(config or {}))
    add_segment_transitions(con)
    return con


def assert_segments_reconcile(con) -> None:
    """For every segment type, segment rows add up to the 'all' row of each edge exactly."""
    broken = con.execute(
        """
        with by_type as (
            select scope, segment_type, from_touchpoint, to_touchpoint,
                sum(transition_count) as transitions, sum(customer_count) as customers
            from transitions where segment != 'all' group by all
        ),
        everyone as (
            select scope, from_touchpoint, to_touchpoint, transition_count, customer_count
            from transitions where segment = 'all'
        ),
        types as (select distinct segment_type from customer_segments)
        select count(*) from everyone cross join types
        full join by_type using (scope, segment_type, from_touchpoint, to_touchpoint)
        where by_type.transitions is distinct from everyone.transition_count
            or by_type.customers is distinct from everyone.customer_count
        """
    ).fetchone()[0]
    assert broken == 0
    duplicates = con.execute(
        "select count(*) from (select scope, segment, from_touchpoint, to_touchpoint "
        "from transitions group by all having count(*) > 1)"
    ).fetchone()[0]
    assert duplicates == 0


def with_models(con):
    """The persona and churn tables customer_segments joins, for c1 only."""
    write_table(
        con, "customer_personas", pd.DataFrame({"customer_id": ["c1"], "persona_id": ["P1"]})
    )
    write_table(
        con, "customer_churn_state", pd.DataFrame({"customer_id": ["c1"], "is_churned": [1]})
    )
    return con


def segment_values(con, where: str) -> dict[str, str]:
    """segment_value by '<segment_type>/<customer_id>' for the customer_segments rows `where`."""
    return dict(
        con.execute(
            "select segment_type || '/' || customer_id, segment_value from customer_segments "
            f"where {where}"
        ).fetchall()
    )


def test_segment_rows_are_exact(build_rows):
    con = segmented(build_rows)
    assert con.execute(
        "select segment_type, segment_value, segment, customer_id from customer_segments "
        "where segment_type in ('first_channel', 'churned', 'converted') order by all"
    ).fetchall() == [
        ("churned", "(none)", "churned:(none)", "c3"),
        ("churned", "false", "churned:false", "c2"),
        ("churned", "true", "churned:true", "c1"),
        ("converted", "false", "converted:false", "c2"),
        ("converted", "false", "converted:false", "c3"),
        ("converted", "true", "converted:true", "c1"),
        ("first_channel", "(none)", "first_channel:(none)", "c3"),
        ("first_channel", "email", "first_channel:email", "c2"),
        ("first_channel", "web", "first_channel:web", "c1"),
    ]
    got = con.execute(
        "select from_touchpoint, to_touchpoint, transition_count, customer_count, "
        "round(probability, 4), median_seconds from transitions "
        "where scope = 'journey' and segment = 'persona:P1' order by 1, 2"
    ).fetchall()
    assert got == [
        ("(start)", "a", 2, 2, 1.0, None),
        ("a", "a", 1, 1, round(1 / 3, 4), 120.0),
        ("a", "b", 1, 1, round(1 / 3, 4), 60.0),
        ("a", "purchase", 1, 1, round(1 / 3, 4), 60.0),
        ("b", "(end)", 1, 1, 1.0, None),
        ("purchase", "(end)", 1, 1, 1.0, None),
    ]
    assert con.execute(
        "select distinct segment_type, segment_value from transitions where segment = 'persona:P2'"
    ).fetchall() == [("persona", "P2")]
    assert con.execute(
        "select from_touchpoint, to_touchpoint, transition_count from transitions "
        "where scope = 'session' and segment = 'converted:false' order by 1, 2"
    ).fetchall() == [("(start)", "a", 1), ("(start)", "b", 1), ("a", "a", 1), ("a", "b", 1),
                     ("b", "(end)", 2)]  # fmt: skip
    assert_segments_reconcile(con)


def test_config_segments_take_customer_and_event_attributes(build_rows):
    config = {
        "segments": ["device", "furthest_stage", "Channel"],
        "columns": {"channel": "Channel"},
    }
    rows = [{("Channel" if k == "channel" else k): v for k, v in r.items()} for r in ROWS]
    con = build_rows(rows, config)
    write_table(
        con,
        "customer_personas",
        pd.DataFrame({"customer_id": ["c1", "c2", "c3"], "persona_id": ["P1", "P1", "P2"]}),
    )
    write_table(
        con, "customer_churn_state", pd.DataFrame({"customer_id": ["c1"], "is_churned": [1]})
    )
    build_customer_segments(con, parse_config(config))
    add_segment_transitions(con)
    segments = segment_values(con, "segment_type in ('device', 'furthest_stage', 'Channel')")
    # device is a source column kept in properties: the customer's first non-null value
    assert segments["device/c1"] == "ios" and segments["device/c2"] == "web"
    assert segments["device/c3"] == "(none)"
    # a mapped source name stands for its canonical column
    assert segments["Channel/c2"] == "email" and segments["Channel/c3"] == "(none)"
    # a journeys column is a customer attribute as is
    assert segments["furthest_stage/c1"] == "purchase"
    assert_segments_reconcile(con)


def test_unknown_segment_column_is_a_clear_error(build_rows):
    con = with_models(build_rows(ROWS))
    with pytest.raises(ConfigError, match=r"'country'.*available: .*'device'"):
        build_customer_segments(con, parse_config({"segments": ["country"]}))


def test_source_column_named_like_a_cjm_column_must_be_qualified(build_rows):
    # The event files carry their own `stage` (kept in properties), as cjm's events table does.
    rows = [{**r, "stage": f"src_{r['touchpoint']}"} for r in ROWS]
    con = with_models(build_rows(rows))
    with pytest.raises(ConfigError, match=r"'stage' is both cjm's events column .*'events\.stage'"
                       r" or 'properties\.stage'"):  # fmt: skip
        build_customer_segments(con, parse_config({"segments": ["stage"]}))
    config = parse_config(
        {"segments": ["properties.stage", "events.stage", "journeys.is_converted"]}
    )
    build_customer_segments(con, config)
    add_segment_transitions(con)
    got = segment_values(con, "segment_type like '%.%'")
    # the source column: each customer's first value
    assert got["properties.stage/c1"] == "src_a" and got["properties.stage/c3"] == "src_b"
    # cjm's column: the first non-null stage (`a` and `b` have none, `purchase` is purchase)
    assert got["events.stage/c1"] == "purchase" and got["events.stage/c2"] == "(none)"
    assert got["journeys.is_converted/c1"] == "true" and got["journeys.is_converted/c2"] == "false"
    assert_segments_reconcile(con)


@pytest.mark.parametrize(
    ("segment", "message"),
    [
        ("properties.country", r"properties has no column 'country'; available: \['device'\]"),
        ("journeys.device", r"journeys has no column 'device'"),
    ],
)
def test_qualified_segment_column_must_exist(build_rows, segment, message):
    con = with_models(build_rows(ROWS))
    with pytest.raises(ConfigError, match=message):
        build_customer_segments(con, parse_config({"segments": [segment]}))


def test_segment_column_with_too_many_values_is_refused(build_rows, monkeypatch):
    con = with_models(build_rows(ROWS))
    monkeypatch.setattr("cjm.graphs.segments.MAX_SEGMENT_VALUES", 2)
    with pytest.raises(ConfigError, match=r"'customer_id' has 3 distinct values; .* at most 2"):
        build_customer_segments(con, parse_config({"segments": ["customer_id"]}))


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        (["persona"], "built-in segment"),
        (["device", "device"], "more than once"),
        (["a:b"], "no ':'"),
        ("device", "valid tuple"),
    ],
)
def test_segments_config_is_validated(segments, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({"segments": segments})


def test_sample_segments_reconcile_and_keys_are_unique(tmp_path):
    build = tmp_path / "build.duckdb"
    config = load_config(SAMPLE_DIR / "cjm.yaml")
    steps.load_events(build, discover_files(SAMPLE_DIR / "events"), config)
    steps.build_journeys(build, config)
    stages.build_personas(build, config)
    graph_stages.build_graphs(build, config)
    # a retried step replaces its rows instead of adding them twice
    summary = graph_stages.build_graphs(build, config)
    con = duckdb.connect(str(build), read_only=True)
    try:
        assert_segments_reconcile(con)
        # customers and medians of every segment edge, recomputed from the steps in pandas
        joined = con.execute(
            "select s.scope, c.segment, s.from_touchpoint, s.to_touchpoint, s.customer_id, "
            "s.seconds_between from int_transition_steps s join customer_segments c "
            "using (customer_id)"
        ).df()
        expected = joined.groupby(["scope", "segment", "from_touchpoint", "to_touchpoint"]).agg(
            transition_count=("customer_id", "size"),
            customer_count=("customer_id", "nunique"),
            median_seconds=("seconds_between", "median"),
        )
        got = (
            con.execute(
                "select scope, segment, from_touchpoint, to_touchpoint, transition_count, "
                "customer_count, median_seconds from transitions where segment != 'all'"
            )
            .df()
            .set_index(["scope", "segment", "from_touchpoint", "to_touchpoint"])
        )
        pd.testing.assert_frame_equal(
            got.sort_index(), expected.sort_index(), check_dtype=False, rtol=1e-12
        )
        personas, customers = con.execute(
            "select (select count(*) from personas), (select count(*) from journeys)"
        ).fetchone()
        segments = con.execute(
            "select segment_type, count(distinct segment), count(*) from customer_segments "
            "group by 1 order by 1"
        ).fetchall()
        assert [(t, n) for t, _, n in segments] == [
            (t, customers) for t in ("churned", "converted", "first_channel", "persona")
        ]
        assert dict((t, k) for t, k, _ in segments)["persona"] == personas
        graphs = con.execute("select count(distinct (scope, segment)) from transitions").fetchone()
        assert (
            summary["counts"]["transition_graphs"]
            == graphs[0]
            == 2 * (1 + sum(k for _, k, _ in segments))
        )
        for table, key in (
            ("touchpoint_graph_metrics", "scope, segment, touchpoint"),
            ("transition_cycles", "scope, cycle"),
            ("customer_segments", "customer_id, segment_type"),
        ):
            dupes = con.execute(
                f"select count(*) from (select {key} from {table} group by all having count(*) > 1)"
            ).fetchone()[0]
            nulls = con.execute(
                f"select count(*) from {table} where "
                + " or ".join(f"{c} is null" for c in key.split(", "))
            ).fetchone()[0]
            assert (table, dupes, nulls) == (table, 0, 0)
        # every touchpoint of every graph has metrics, and nothing else
        missing = con.execute(
            "select count(*) from (select distinct scope, segment, to_touchpoint from transitions "
            "where to_touchpoint != '(end)') t full join touchpoint_graph_metrics m "
            "on (t.scope, t.segment, t.to_touchpoint) = (m.scope, m.segment, m.touchpoint) "
            "where m.touchpoint is null or t.to_touchpoint is null"
        ).fetchone()[0]
        assert missing == 0
    finally:
        con.close()


def test_columns_of_the_customers_file_are_segments(build_rows, tmp_path):
    from cjm.build.customers import build_customer_tables

    (tmp_path / "people.csv").write_text("customer_id,Plan\nc1,pro\nc2,free\nc9,pro\n")
    con = with_models(build_rows(ROWS))
    build_customer_tables(con, tmp_path / "people.csv", "customer_id")
    build_customer_segments(con, parse_config({"segments": ["customers.plan"]}))
    add_segment_transitions(con)
    got = segment_values(con, "segment_type = 'customers.plan'")
    # c3 has no row in the file: (none); c9 has no events: in no graph
    assert got == {
        "customers.plan/c1": "pro",
        "customers.plan/c2": "free",
        "customers.plan/c3": "(none)",
    }
    assert_segments_reconcile(con)
    with pytest.raises(ConfigError, match=r"customers has no column 'region'; available: \['plan'"):
        build_customer_segments(con, parse_config({"segments": ["customers.region"]}))


def test_customers_segments_need_a_customers_file(build_rows):
    con = with_models(build_rows(ROWS))
    with pytest.raises(ConfigError, match=r"customers has no column 'plan'; available: \[\]"):
        build_customer_segments(con, parse_config({"segments": ["customers.plan"]}))
