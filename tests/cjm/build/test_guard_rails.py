"""The guard-rail rules: each collapse trips its rule, ordinary changes trip none."""

from __future__ import annotations

import duckdb

from cjm.build.guard_rails import Vitals, collapses, read_vitals, warnings_in

BEFORE = Vitals(
    customers=1000,
    customers_scored=800,
    flagged=60,
    churned=300,
    churn_model_trained=True,
    personas={1: 400, 2: 350, 3: 200, 4: 50},
)


def _with(**changes) -> Vitals:
    return Vitals(**{**BEFORE.__dict__, **changes})


def test_ordinary_changes_trip_nothing():
    grown = _with(
        customers=1100,
        customers_scored=700,
        flagged=3,
        churned=400,
        personas={1: 450, 2: 300, 3: 120, 5: 230},  # persona 4 (5% of customers) gone
    )
    assert collapses(BEFORE, grown) == []
    # too few customers before to judge anything
    assert collapses(Vitals(customers=10, customers_scored=10, flagged=5), Vitals()) == []


def test_each_collapse_trips_its_rule():
    assert collapses(BEFORE, _with(customers_scored=399)) == [
        "customers scored fell from 800 to 399 (below half)"
    ]
    assert collapses(BEFORE, _with(customers_scored=400)) == []
    assert collapses(BEFORE, _with(flagged=0)) == [
        "the churn list is empty: no customer flagged high risk (60)"
    ]
    assert collapses(BEFORE, _with(churn_model_trained=False)) == [
        "the churn model is no longer trained (see churn_model_card)"
    ]
    assert collapses(BEFORE, _with(churned=999)) == [
        "churned customers rose from 300 of 1,000 (30.0%) to 999 of 1,000 (99.9%)"
    ]
    assert collapses(BEFORE, _with(personas={1: 1000})) == ["personas fell from 4 to 1"]
    assert collapses(BEFORE, _with(personas={1: 700, 2: 87, 3: 163, 4: 50})) == [
        "persona 2 fell from 350 customers to 87 (below a quarter)"
    ]
    assert collapses(BEFORE, _with(personas={1: 700, 2: 300, 4: 0})) == [
        "persona 3 fell from 200 customers to 0 (below a quarter)"
    ]


def test_the_poisoned_run_of_the_issue_trips_four_rules():
    # One event dated 9999-01-01: churn_risk 2,822 rows -> 0, churned 2,178 -> 4,999 of 5,000,
    # the churn model not trained.
    before = Vitals(5000, 2822, 200, 2178, True, {1: 2500, 2: 2500})
    after = Vitals(5000, 0, 0, 4999, False, {1: 2500, 2: 2500})
    found = collapses(before, after)
    assert len(found) == 4 and found[0].startswith("customers scored fell from 2,822 to 0")


def test_vitals_are_read_from_the_published_tables():
    con = duckdb.connect()
    con.execute("create table journeys as select range::varchar as customer_id from range(5)")
    con.execute(
        "create table churn_risk as select * from (values ('a', 'high'), ('b', 'low'), "
        "('c', 'high')) v(customer_id, risk_tier)"
    )
    con.execute(
        "create table customer_churn_state as select * from (values ('a', true), ('b', false)) "
        "v(customer_id, is_churned)"
    )
    con.execute(
        "create table churn_model_card as select * from (values ('status', '\"not_trained\"')) "
        "v(item, value)"
    )
    con.execute(
        "create table personas as "
        "select * from (values (1, 3), (2, 2)) v(persona_id, customer_count)"
    )
    assert read_vitals(con) == Vitals(5, 3, 2, 1, False, {1: 3, 2: 2})
    empty = duckdb.connect()
    assert read_vitals(empty) == Vitals()


def test_warnings_are_told_apart_from_other_notes():
    notes = ["k chosen by silhouette", "WARNING guard rail: personas fell from 3 to 1"]
    assert warnings_in(notes) == ["personas fell from 3 to 1"]
