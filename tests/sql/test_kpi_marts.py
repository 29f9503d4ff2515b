"""Golden rows for kpi_timeseries and touchpoint_owners on hand-written logs."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd
import pytest

from cjm import stages
from cjm.build.catalog import key_breaks
from cjm.build.models import model_key
from cjm.churn.patterns import wilson_interval
from cjm.config import load_config, parse_config
from cjm.journeys.kpis import KPI_MARTS, build_kpi_tables, json_path
from cjm.journeys.owners import owner_lifts
from tests.conftest import REPO, build, dataset, write_csv
from tests.published import publish_log


def _event(customer, day, hour, touchpoint, revenue="", sentiment="", **extra):
    return {
        "customer_id": customer,
        "event_time": f"2026-01-{day:02d}T{hour:02d}:00:00Z",
        "touchpoint": touchpoint,
        "revenue": revenue,
        "sentiment": sentiment,
        **extra,
    }


# 2026-01-05 is a Monday: week 1 is 01-05..01-11, week 2 01-12..01-18, week 3 from 01-19.
KPI_LOG = [
    _event("a", 5, 10, "product_view", sentiment="0.5"),
    _event("a", 6, 10, "purchase", revenue="10"),
    _event("b", 5, 11, "product_view"),
    _event("b", 13, 10, "purchase", revenue="20", sentiment="-1.0"),
    _event("c", 7, 10, "product_view", sentiment="1.0"),
    _event("d", 13, 11, "product_view", sentiment="0.0"),
    _event("d", 18, 10, "product_view"),
    _event("e", 20, 10, "product_view"),
]
KPI_CONFIG = {
    "stages": {"product_view": "consideration", "purchase": "purchase"},
    "conversion_touchpoints": ["purchase"],
}
PERSONAS = {"a": 1, "b": 1, "c": 2, "d": 2, "e": 2}
# c churns in week 1, a (last event a purchase) in week 2
CHURNED_AT = {"c": "2026-01-09 12:00:00+00", "a": "2026-01-14 08:00:00+00"}


def _side_tables(con, personas, churned_at, roles=None):
    """The tables the KPI marts read that later steps write: personas, churn state, roles."""
    con.execute("create table customer_personas (customer_id varchar, persona_id bigint)")
    for customer, persona in personas.items():
        con.execute("insert into customer_personas values (?, ?)", [customer, persona])
    con.execute(
        "create table customer_churn_state as select customer_id, false as is_churned, "
        "null::timestamptz as churned_at from journeys"
    )
    for customer, at in churned_at.items():
        con.execute(
            "update customer_churn_state set is_churned = true, churned_at = ?::timestamptz "
            "where customer_id = ?",
            [at, customer],
        )
    con.execute("create table touchpoint_insights (touchpoint varchar, role varchar)")
    for touchpoint, role in (roles or {}).items():
        con.execute("insert into touchpoint_insights values (?, ?)", [touchpoint, role])


def _kpis(build_rows, config, rows=KPI_LOG):
    con = build_rows(rows, config)
    _side_tables(con, PERSONAS, CHURNED_AT)
    build_kpi_tables(con, parse_config(config))
    return con


COLUMNS = (
    "scope, scope_value, cast(period_start as varchar), active_customers, converted_customers, "
    "conversion_rate, churned_customers, event_count, rated_events, mean_sentiment, revenue, "
    "previous_conversion_rate, conversion_rate_change, is_partial"
)


def test_kpi_timeseries_weekly_golden_rows(build_rows):
    con = _kpis(build_rows, KPI_CONFIG)
    got = con.execute(
        f"select {COLUMNS} from kpi_timeseries order by scope, scope_value, period_start"
    ).fetchall()
    assert got == [
        ("all", "all", "2026-01-05", 3, 1, 1 / 3, 1, 4, 2, 0.75, 10.0, None, None, False),
        ("all", "all", "2026-01-12", 2, 1, 0.5, 1, 3, 2, -0.5, 20.0, 1 / 3, 0.5 - 1 / 3, False),
        ("all", "all", "2026-01-19", 1, 0, 0.0, 0, 1, 0, None, None, 0.5, -0.5, True),
        ("persona", "1", "2026-01-05", 2, 1, 0.5, 0, 3, 1, 0.5, 10.0, None, None, False),
        ("persona", "1", "2026-01-12", 1, 1, 1.0, 1, 1, 1, -1.0, 20.0, 0.5, 0.5, False),
        ("persona", "2", "2026-01-05", 1, 0, 0.0, 1, 1, 1, 1.0, None, None, None, False),
        ("persona", "2", "2026-01-12", 1, 0, 0.0, 0, 2, 1, 0.0, None, 0.0, 0.0, False),
        ("persona", "2", "2026-01-19", 1, 0, 0.0, 0, 1, 0, None, None, 0.0, 0.0, True),
        # a conversion counts for the stage's customers whatever stage the conversion is in
        ("stage", "consideration", "2026-01-05", 3, 1, 1 / 3, 1, 3, 2, 0.75, None, None, None,
         False),
        ("stage", "consideration", "2026-01-12", 1, 0, 0.0, 0, 2, 1, 0.0, None, 1 / 3, -1 / 3,
         False),
        ("stage", "consideration", "2026-01-19", 1, 0, 0.0, 0, 1, 0, None, None, 0.0, 0.0, True),
        ("stage", "purchase", "2026-01-05", 1, 1, 1.0, 0, 1, 0, None, 10.0, None, None, False),
        ("stage", "purchase", "2026-01-12", 1, 1, 1.0, 1, 1, 1, -1.0, 20.0, 1.0, 0.0, False),
    ]  # fmt: skip
    assert con.execute("select distinct period from kpi_timeseries").fetchall() == [("week",)]
    assert_keys(con)


def test_kpi_timeseries_intervals_are_wilson_and_newcombe(build_rows):
    con = _kpis(build_rows, KPI_CONFIG)
    low, high, change_low, change_high = con.execute(
        "select conversion_rate_low, conversion_rate_high, conversion_rate_change_low, "
        "conversion_rate_change_high from kpi_timeseries "
        "where scope = 'all' and period_start = date '2026-01-12'"
    ).fetchone()
    # 1 of 2 now, 1 of 3 the week before
    (l1, l2), (u1, u2) = wilson_interval(np.array([1, 1]), np.array([2, 3]))
    assert (low, high) == pytest.approx((l1, u1))
    d = 0.5 - 1 / 3
    assert change_low == pytest.approx(d - math.sqrt((0.5 - l1) ** 2 + (u2 - 1 / 3) ** 2))
    assert change_high == pytest.approx(d + math.sqrt((u1 - 0.5) ** 2 + (1 / 3 - l2) ** 2))
    # Wilson's interval of 1 of 3, by hand: (0.0615, 0.7923)
    row = con.execute(
        "select conversion_rate_low, conversion_rate_high from kpi_timeseries "
        "where scope = 'all' and period_start = date '2026-01-05'"
    ).fetchone()
    assert row == pytest.approx((0.0615, 0.7923), abs=1e-4)


def test_kpi_timeseries_by_month_in_the_configured_timezone(build_rows):
    # 20:00 UTC on Sunday 01-11 is Monday 01-12 in Tokyo: week 2 there, week 1 in UTC
    rows = [*KPI_LOG, _event("f", 11, 20, "product_view")]
    weekly = _kpis(build_rows, {**KPI_CONFIG, "timezone": "Asia/Tokyo"}, rows)
    got = weekly.execute(
        "select cast(period_start as varchar), active_customers from kpi_timeseries "
        "where scope = 'all' order by 1"
    ).fetchall()
    assert got == [("2026-01-05", 3), ("2026-01-12", 3), ("2026-01-19", 1)]
    monthly = _kpis(build_rows, {**KPI_CONFIG, "kpis": {"period": "month"}})
    got = monthly.execute(
        f"select {COLUMNS}, cast(period_end as varchar) from kpi_timeseries where scope = 'all'"
    ).fetchall()
    # the log starts on 01-05: January is partial
    assert got == [
        ("all", "all", "2026-01-01", 5, 2, 0.4, 2, 8, 4, 0.125, 30.0, None, None, True,
         "2026-02-01"),
    ]  # fmt: skip


def assert_keys(con) -> None:
    """Each KPI table's key (its SQL header's) is unique and never null."""
    breaks = {table: key_breaks(con, table, model_key("marts", table)) for table in KPI_MARTS}
    assert breaks == dict.fromkeys(KPI_MARTS, 0)


OWNER_LOG = [
    _event("c1", 5, 10, "triage", sentiment="-1.0", team="A"),
    _event("c1", 5, 11, "resolved", team="X"),
    _event("c2", 5, 10, "triage", sentiment="-0.5", team="A"),
    _event("c2", 5, 11, "rejected", team="X"),
    _event("c3", 5, 10, "triage", sentiment="0.5", team="B"),
    _event("c3", 5, 11, "resolved", team="X"),
    _event("c4", 5, 10, "triage", team="B"),
    _event("c4", 5, 11, "triage", team="A"),
    _event("c4", 5, 12, "rejected"),
    _event("c5", 5, 10, "triage"),
    _event("c5", 5, 11, "resolved", team=" X "),
]
# No conversion_touchpoints: the success outcome is the conversion, the failure one is an exit.
OWNER_CONFIG = {
    "columns": {"resource": "team"},
    "outcomes": {"success": ["resolved"], "failure": ["rejected"]},
}


def _owners(build_rows, config=OWNER_CONFIG):
    con = build_rows(OWNER_LOG, config)
    churned_at = {"c2": "2026-01-06 00:00:00+00", "c4": "2026-01-06 00:00:00+00"}
    _side_tables(con, {}, churned_at, {"triage": "pain_point", "resolved": "neutral"})
    build_kpi_tables(con, parse_config(config))
    return con


def test_touchpoint_owners_golden_rows(build_rows):
    con = _owners(build_rows)
    got = con.execute(
        "select touchpoint, resource, event_count, share_of_touchpoint_events, customer_count, "
        "conversion_rate, conversion_lift, churn_rate, churn_lift, failure_rate, failure_lift, "
        "rated_events, mean_sentiment, touchpoint_role from touchpoint_owners order by 1, 2"
    ).fetchall()
    # Lifts against the touchpoint's other customers of the same activity stratum (number of
    # events): c1, c2, c3, c5 have 2 events, c4 has 3, so c4 is compared with nobody.
    assert got == [
        # the only other customer at rejected is c4: no stratum has both groups
        ("rejected", "X", 1, 0.5, 1, 0.0, None, 1.0, None, 1.0, None, 0, None, None),
        ("resolved", "X", 3, 1.0, 3, 1.0, None, 0.0, None, 0.0, None, 0, None, "neutral"),
        # 2 events: A's c1, c2 (one converted, c2 churned and failed) against c3, c5 (both
        # converted, neither churned nor failed): conversion R = 1*2/4, S = 2*2/4, lift 0.5
        # (the plain ratio was 1/3); no other customer churned or failed, so NULL
        ("triage", "A", 3, 0.5, 3, 1 / 3, 0.5, 2 / 3, None, 2 / 3, None, 2, -0.75,
         "pain_point"),
        # 2 events: B's c3 (converted) against c1, c2, c5 (two converted, c2 churned and
        # failed): conversion R = 1*3/4, S = 2*1/4, lift 1.5 (plain 0.75); churn and failure
        # R = 0, S = 1*1/4, lift 0 (plain 1.5: B's c4 churned, but c4 is the only 3-event one)
        ("triage", "B", 2, 2 / 6, 2, 0.5, 1.5, 0.5, 0.0, 0.5, 0.0, 1, 0.5, "pain_point"),
    ]  # fmt: skip
    assert_keys(con)


# Team A handles more of the short tickets (2 events), which churn more than long ones (4 events).
# churned: 2 events: A's a1, a2 of a1..a4, others' b1 of b1, b2; 4 events: A's a5 of a5, others'
# b3 of b3..b6.
CONFOUNDED = {"a1": 2, "a2": 2, "a3": 2, "a4": 2, "b1": 2, "b2": 2, "a5": 4}
CONFOUNDED |= {f"b{i}": 4 for i in range(3, 7)}
CONFOUNDED_CHURNED = ("a1", "a2", "b1", "b3")


def test_owner_lifts_compare_customers_of_similar_activity(build_rows):
    rows = []
    for customer, events in CONFOUNDED.items():
        team = "A" if customer.startswith("a") else "B"
        rows.append(_event(customer, 5, 8, "triage", team=team))
        rows += [_event(customer, 5, 9 + i, "work") for i in range(events - 1)]
    config = {"columns": {"resource": "team"}}
    con = build_rows(rows, config)
    churned_at = dict.fromkeys(CONFOUNDED_CHURNED, "2026-01-06 00:00:00+00")
    _side_tables(con, {}, churned_at)
    build_kpi_tables(con, parse_config(config))
    got = dict(
        con.execute(
            "select resource, (churn_rate, churn_lift) from touchpoint_owners "
            "where touchpoint = 'triage'"
        ).fetchall()
    )
    # A: 2 of 5 churned against the others' 2 of 6, a plain ratio of 0.4 / (1/3) = 1.2. Within
    # strata: 2 events R = 2*2/6, S = 1*4/6; 4 events R = 0*4/5, S = 1*1/5; lift (2/3) / (13/15).
    assert got["A"] == (pytest.approx(0.4), pytest.approx(10 / 13))
    # B: 2 of 6 against 2 of 5 (plain 5/6); 2 events R = 1*4/6, S = 2*2/6; 4 events R = 1*1/5,
    # S = 0: lift (13/15) / (2/3).
    assert got["B"] == (pytest.approx(1 / 3), pytest.approx(13 / 10))


def test_owner_lifts_sum_in_a_fixed_order():
    # the same counts in any row order give the same bits
    strata = pd.DataFrame(
        {
            "touchpoint": ["t"] * 6,
            "resource": ["A", "A", "A", "B", "B", "B"],
            "stratum": [1, 2, 3, 1, 2, 3],
            "customers": [3, 7, 11, 2, 5, 13],
            "converted": [1, 2, 3, 1, 1, 4],
            "churned": [1, 3, 1, 0, 2, 5],
            "failed": [0, 1, 2, 1, 0, 3],
        }
    )
    totals = {1: (9, 4, 2, 1), 2: (17, 6, 5, 2), 3: (29, 11, 8, 6)}
    for i, name in enumerate(("customers", "converted", "churned", "failed")):
        strata["touchpoint_" + name] = strata["stratum"].map({k: v[i] for k, v in totals.items()})
    first = owner_lifts(strata)
    for seed in range(5):
        shuffled = strata.sample(frac=1, random_state=seed).reset_index(drop=True)
        pd.testing.assert_frame_equal(owner_lifts(shuffled), first, check_exact=True)


def test_outcomes_drive_conversion_and_exit_without_conversion_touchpoints(build_rows):
    con = _owners(build_rows)
    converted = con.execute(
        "select customer_id from journeys where is_converted order by 1"
    ).fetchall()
    assert converted == [("c1",), ("c3",), ("c5",)]
    stages = dict(con.execute("select distinct touchpoint, stage from events").fetchall())
    assert stages["rejected"] == "exit" and stages["resolved"] == "purchase"
    assert stages["triage"] is None
    # a configured conversion or stage wins over the outcomes
    config = {
        **OWNER_CONFIG,
        "conversion_touchpoints": ["triage"],
        "stages": {"rejected": "purchase"},
    }
    con = _owners(build_rows, config)
    assert con.execute("select count(*) from journeys where not is_converted").fetchone() == (0,)
    assert con.execute(
        "select distinct stage from events where touchpoint = 'rejected'"
    ).fetchone() == ("purchase",)


def test_touchpoint_owners_without_resource_column_or_failures(build_rows):
    rows = [{k: v for k, v in r.items() if k != "team"} for r in OWNER_LOG]
    con = build_rows(rows, {})
    _side_tables(con, {}, {})
    counts = build_kpi_tables(con, parse_config({}))
    assert counts["touchpoint_owners"] == 0
    # a log whose column is literally `resource` needs no mapping; no failures: NULL failure
    rows = [{**r, "resource": "T"} for r in rows]
    con = build_rows(rows, {})
    _side_tables(con, {}, {})
    build_kpi_tables(con, parse_config({}))
    got = con.execute(
        "select touchpoint, failure_rate, failure_lift from touchpoint_owners order by 1"
    ).fetchall()
    assert got == [("rejected", None, None), ("resolved", None, None), ("triage", None, None)]


def test_json_path_quotes_any_key():
    assert json_path("org:resource") == '$."org:resource"'
    assert json_path('a"b') == '$."a\\"b"'


@pytest.mark.slow
def test_kpi_and_owner_marts_reconcile_with_the_helpdesk_log(tmp_path):
    path = dataset("helpdesk", "helpdesk.csv")
    config = load_config(REPO / "examples" / "helpdesk.yaml")
    db = publish_log(path, tmp_path / "helpdesk.duckdb", config)
    con = duckdb.connect(str(db), read_only=True)
    assert_keys(con)
    log = pd.read_csv(path, dtype=str).drop_duplicates()  # identical rows are one event
    log["week"] = pd.to_datetime(log["time:timestamp"], utc=True).dt.tz_localize(None)
    log["week"] = log["week"].dt.to_period("W-SUN").dt.start_time.dt.date
    # every ticket active in a week, counted once in that week
    weekly = log.groupby("week")["case:concept:name"].nunique()
    got = dict(
        con.execute(
            "select period_start, active_customers from kpi_timeseries where scope = 'all'"
        ).fetchall()
    )
    assert got == weekly.to_dict()
    # one row per activity and resource pair, holding all of its events and tickets
    pairs = log.groupby(["concept:name", "org:resource"]).agg(
        events=("case:concept:name", "size"), tickets=("case:concept:name", "nunique")
    )
    owners = con.execute(
        "select touchpoint, resource, event_count, customer_count from touchpoint_owners"
    ).df()
    assert owners["resource"].nunique() == log["org:resource"].nunique() == 22
    owners = owners.set_index(["touchpoint", "resource"]).sort_index()
    assert owners["event_count"].tolist() == pairs.sort_index()["events"].tolist()
    assert owners["customer_count"].tolist() == pairs.sort_index()["tickets"].tolist()
    con.close()


def test_paths_step_builds_the_kpi_marts_and_notes_an_empty_funnel(tmp_path):
    # activities of a process log match no stage keyword: the run says why the funnel is empty
    rows = [_event(c, 5, h, t) for c in ("p", "q") for h, t in ((9, "Queued"), (10, "Closed"))]
    db = tmp_path / "build.duckdb"
    con = build([write_csv(tmp_path / "events.csv", rows)], {}, db=db)
    _side_tables(con, {"p": 1, "q": 1}, {})
    con.close()
    summary = stages.build_paths(db, parse_config({}))
    assert summary["counts"]["kpi_timeseries"] == 2  # all and persona 1, one week
    assert summary["counts"]["touchpoint_owners"] == 0
    (note,) = summary["notes"]
    assert note.startswith("stage funnel: empty")
