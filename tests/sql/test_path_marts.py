"""Golden rows for the path marts: variants, anchored and between paths, stage and step funnels."""

from __future__ import annotations

import math

import pytest

from cjm.build.catalog import key_breaks
from cjm.build.models import model_key
from cjm.config import parse_config
from cjm.journeys.paths import PATH_MARTS, build_path_tables, funnel_note


def _events(journeys: dict[str, list[str]], minutes: dict[str, list[int]] | None = None):
    """Event rows: each customer's touchpoints one minute apart unless minutes are given."""
    rows = []
    for customer, touchpoints in journeys.items():
        offsets = (minutes or {}).get(customer, list(range(len(touchpoints))))
        for touchpoint, minute in zip(touchpoints, offsets, strict=True):
            rows.append(
                {
                    "customer_id": customer,
                    "event_time": f"2026-01-01T09:{minute:02d}:00Z",
                    "touchpoint": touchpoint,
                }
            )
    return rows


def _build(build_rows, journeys, config: dict, churned: dict[str, bool] | None = None, **kw):
    con = build_rows(_events(journeys, **kw), config)
    con.execute("create table customer_churn_state (customer_id varchar, is_churned boolean)")
    for customer, flag in (churned or {}).items():
        con.execute("insert into customer_churn_state values (?, ?)", [customer, flag])
    build_path_tables(con, parse_config(config))
    return con


def assert_path_keys(con) -> None:
    """Each path table's key (its SQL header's) is unique and never null."""
    for table in PATH_MARTS:
        assert (table, key_breaks(con, table, model_key("marts", table))) == (table, 0)


VARIANT_JOURNEYS = {
    "c1": ["a", "a", "b", "c"],
    "c2": ["a", "b", "c"],
    "c3": ["a", "b"],
    "c4": ["d"],
}


def test_path_variants_raw_and_collapsed_with_other_row(build_rows):
    config = {
        "conversion_touchpoints": ["c"],
        "paths": {"prefix_steps": 2, "top_variants": 1},
    }
    churned = {"c1": True, "c2": False, "c3": False}  # c4 unknown: left out of churn_rate
    con = _build(build_rows, VARIANT_JOURNEYS, config, churned)
    got = con.execute(
        "select variant_kind, variant_rank, path, path_length, variant_count, customer_count, "
        "share, cumulative_share, whole_journey_count, conversion_rate, churn_rate "
        "from path_variants order by variant_kind, variant_rank"
    ).fetchall()
    assert got == [
        ("collapsed", 1, "a > b", 2, 1, 3, 0.75, 0.75, 1, 2 / 3, 1 / 3),
        ("collapsed", 2, "(other)", None, 1, 1, 0.25, 1.0, 1, 0.0, None),
        ("raw", 1, "a > b", 2, 1, 2, 0.5, 0.5, 1, 0.5, 0.0),
        ("raw", 2, "(other)", None, 2, 2, 0.5, 1.0, 1, 0.5, 1.0),
    ]
    assert_path_keys(con)


def test_path_variants_without_remainder_have_no_other_row(build_rows):
    config = {"paths": {"prefix_steps": 3, "top_variants": 10}}
    con = _build(build_rows, VARIANT_JOURNEYS, config)
    got = con.execute(
        "select path, customer_count, cumulative_share, churn_rate from path_variants "
        "where variant_kind = 'raw' order by variant_rank"
    ).fetchall()
    # Ties are broken by path; no churn state at all gives churn_rate NULL, not 0.
    assert got == [
        ("a > a > b", 1, 0.25, None),
        ("a > b", 1, 0.5, None),
        ("a > b > c", 1, 0.75, None),
        ("d", 1, 1.0, None),
    ]


ANCHOR_JOURNEYS = {
    "c1": ["a", "a", "b", "c"],
    "c2": ["a", "b", "c"],
    "c3": ["a", "b"],
    "c5": ["b", "x", "b", "y"],
    "c6": ["c", "b", "a"],
    "c7": ["a", "c", "b", "x"],
}
ANCHOR_CONFIG = {
    "paths": {"anchors": ["b"], "steps_around": 2, "between": [["a", "c"], ["b", "c"]]},
    "funnels": {"abc": ["a", "b", "c"]},
}


@pytest.fixture
def anchored(build_rows):
    return _build(build_rows, ANCHOR_JOURNEYS, ANCHOR_CONFIG)


def test_anchored_paths_around_first_anchor_event(anchored):
    got = anchored.execute(
        "select direction, steps, path, adjacent_touchpoint, customer_count, share, path_rank "
        "from anchored_paths where anchor = 'b' order by direction, path_rank"
    ).fetchall()
    assert got == [
        ("after", 2, "c > (end)", "c", 2, 2 / 6, 1),  # c1, c2
        ("after", 2, "(end)", "(end)", 1, 1 / 6, 2),  # c3
        ("after", 2, "a > (end)", "a", 1, 1 / 6, 3),  # c6
        ("after", 2, "x > (end)", "x", 1, 1 / 6, 4),  # c7
        ("after", 2, "x > b", "x", 1, 1 / 6, 5),  # c5: first b, then x and its second b
        ("before", 2, "(start) > a", "a", 2, 2 / 6, 1),  # c2, c3
        ("before", 2, "(start)", "(start)", 1, 1 / 6, 2),  # c5
        ("before", 2, "(start) > c", "c", 1, 1 / 6, 3),  # c6
        ("before", 2, "a > a", "a", 1, 1 / 6, 4),  # c1
        ("before", 2, "a > c", "c", 1, 1 / 6, 5),  # c7
    ]
    assert_path_keys(anchored)
    # One session each (minutes apart): every real adjacent touchpoint shares the anchor's session.
    same = anchored.execute(
        "select path, same_session_count from anchored_paths where direction = 'before' "
        "order by path_rank"
    ).fetchall()
    assert same == [
        ("(start) > a", 2),
        ("(start)", 0),
        ("(start) > c", 1),
        ("a > a", 1),
        ("a > c", 1),
    ]


def test_anchored_paths_split_by_session(build_rows):
    # c1's purchase comes a day after the error, in a new session; c2 retries at once.
    rows = _events({"c1": ["checkout", "error"], "c2": ["checkout", "error", "checkout"]})
    rows.append(
        {"customer_id": "c1", "event_time": "2026-01-02T09:00:00Z", "touchpoint": "purchase"}
    )
    con = build_rows(rows, {"paths": {"anchors": ["error"], "steps_around": 1}})
    con.execute("create table customer_churn_state (customer_id varchar, is_churned boolean)")
    build_path_tables(con, parse_config({"paths": {"anchors": ["error"], "steps_around": 1}}))
    got = con.execute(
        "select direction, path, customer_count, same_session_count from anchored_paths "
        "order by direction, path"
    ).fetchall()
    assert got == [
        ("after", "checkout", 1, 1),
        ("after", "purchase", 1, 0),
        ("before", "checkout", 2, 2),
    ]


def test_between_paths_from_first_a_to_next_b(anchored):
    got = anchored.execute(
        "select from_touchpoint, to_touchpoint, path, step_count, customer_count, share, "
        "median_seconds, path_rank from between_paths order by 1, 2, path_rank"
    ).fetchall()
    assert got == [
        ("a", "c", "(never)", None, 2, 0.4, None, 1),  # c3; c6 has c only before a
        ("a", "c", "(direct)", 0, 1, 0.2, 60.0, 2),  # c7
        ("a", "c", "a > b", 2, 1, 0.2, 180.0, 3),  # c1
        ("a", "c", "b", 1, 1, 0.2, 120.0, 4),  # c2
        ("b", "c", "(never)", None, 4, 4 / 6, None, 1),
        ("b", "c", "(direct)", 0, 2, 2 / 6, 60.0, 2),
    ]


def test_funnel_steps_count_steps_in_order(anchored):
    got = anchored.execute(
        "select funnel, step_number, touchpoint, customer_count, step_conversion, "
        "overall_conversion, median_seconds_from_previous, dropout_count "
        "from funnel_steps order by step_number"
    ).fetchall()
    # a: everyone but c5; b after a: not c6 (b came first); c after b: only c1 and c2.
    assert got == [
        ("abc", 1, "a", 5, 5 / 6, 1.0, None, 1),
        ("abc", 2, "b", 4, 4 / 5, 4 / 5, 90.0, 2),  # gaps 120, 60, 60, 120
        ("abc", 3, "c", 2, 2 / 4, 2 / 5, 60.0, None),
    ]
    dropouts = anchored.execute(
        "select step_number, touchpoint, next_touchpoint, customer_count, share, next_rank "
        "from funnel_dropouts order by step_number, next_rank"
    ).fetchall()
    assert dropouts == [
        (1, "a", "(end)", 1, 1.0, 1),  # c6
        (2, "b", "(end)", 1, 0.5, 1),  # c3
        (2, "b", "x", 1, 0.5, 2),  # c7
    ]


def test_funnel_with_an_unseen_step_reports_zero_then_unknown(build_rows):
    config = {"funnels": {"gap": ["a", "zz", "c"]}, "paths": {"anchors": []}}
    con = _build(build_rows, ANCHOR_JOURNEYS, config)
    got = con.execute(
        "select step_number, customer_count, step_conversion, overall_conversion, dropout_count "
        "from funnel_steps order by step_number"
    ).fetchall()
    assert got == [(1, 5, 5 / 6, 1.0, 5), (2, 0, 0.0, 0.0, 0), (3, 0, None, 0.0, None)]
    # No touchpoint here has a stage: nobody reaches awareness, and the later rates are unknown
    # (NULL), not NaN.
    stages = con.execute("select step_conversion from stage_funnel order by stage_rank").fetchall()
    assert stages == [(0.0,)] + [(None,)] * 4


def test_stage_funnel_reaches_a_stage_through_any_later_one(build_rows):
    stages = {
        "aw": "awareness",
        "co": "consideration",
        "pu": "purchase",
        "re": "retention",
        "ad": "advocacy",
    }
    journeys = {"c1": ["aw", "co", "pu"], "c2": ["co", "re"], "c3": ["x"], "c4": ["ad", "aw"]}
    minutes = {"c1": [0, 10, 30], "c2": [0, 59], "c3": [0], "c4": [0, 5]}
    con = _build(build_rows, journeys, {"stages": stages}, minutes=minutes)
    got = con.execute(
        "select stage, stage_rank, customer_count, share_of_customers, step_conversion, "
        "customers_with_stage_event, customers_stopped_here, median_seconds_from_previous "
        "from stage_funnel order by stage_rank"
    ).fetchall()
    assert got[0][:7] == ("awareness", 1, 3, 0.75, 0.75, 2, 0)
    assert got[0][7] is None or math.isnan(got[0][7])
    assert got[1:] == [
        ("consideration", 2, 3, 0.75, 1.0, 2, 0, 0.0),  # gaps 600, 0 (c2), 0 (c4)
        ("purchase", 3, 3, 0.75, 1.0, 1, 1, 1200.0),  # 1200 (c1), 3540 (c2 via re), 0
        ("retention", 4, 2, 0.5, 2 / 3, 1, 1, 0.0),
        ("advocacy", 5, 1, 0.25, 0.5, 1, 1, 0.0),
    ]
    stopped = dict(
        con.execute(
            "select furthest_stage, count(*) from journeys where furthest_stage is not null "
            "group by 1"
        ).fetchall()
    )
    assert stopped == {r[0]: r[6] for r in got if r[6]}


def test_no_anchors_between_or_funnels_leave_empty_tables(build_rows):
    con = _build(build_rows, VARIANT_JOURNEYS, {"paths": {"anchors": []}})
    for table in ("anchored_paths", "between_paths", "funnel_steps", "funnel_dropouts"):
        assert con.execute(f"select count(*) from {table}").fetchone()[0] == 0
    # Default anchors: the conversion touchpoints (and pain points when insights exist).
    con = _build(build_rows, VARIANT_JOURNEYS, {"conversion_touchpoints": ["c"]})
    assert con.execute("select distinct anchor from anchored_paths").fetchall() == [("c",)]


def test_funnel_note_says_why_the_stage_funnel_is_empty(build_rows):
    # process activities match no stage keyword: the funnel is all zeros and the run says why
    journeys = {"c1": ["Queued", "Assigned", "Closed"], "c2": ["Queued", "Closed"]}
    con = _build(build_rows, journeys, {})
    assert con.execute("select sum(customer_count) from stage_funnel").fetchone() == (0,)
    note = funnel_note(con)
    assert note.startswith("stage funnel: empty") and "`stages:`" in note
    con = _build(build_rows, journeys, {"stages": {"Queued": "awareness"}})
    assert funnel_note(con) is None
