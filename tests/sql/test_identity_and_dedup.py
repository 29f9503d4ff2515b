"""Golden rows for anonymous-id stitching and de-duplication."""

from __future__ import annotations


def test_anonymous_events_before_signup_join_the_customer(build_rows):
    rows = [
        {"anonymous_id": "dev1", "event_time": "2026-01-01T09:00:00Z", "touchpoint": "ad_click"},
        {"anonymous_id": "dev1", "event_time": "2026-01-01T09:01:00Z", "touchpoint": "view"},
        {
            "customer_id": "c1",
            "anonymous_id": "dev1",
            "event_time": "2026-01-03T09:00:00Z",
            "touchpoint": "signup",
        },
        {"customer_id": "c1", "event_time": "2026-01-04T09:00:00Z", "touchpoint": "purchase"},
        # a visitor who never signs up keeps a journey of their own
        {"anonymous_id": "dev2", "event_time": "2026-01-01T10:00:00Z", "touchpoint": "view"},
    ]
    con = build_rows(rows)
    journeys = con.execute(
        "select customer_id, path, session_count, is_anonymous from journeys order by 1"
    ).fetchall()
    assert journeys == [
        ("anon:dev2", "view", 1, True),
        ("c1", "ad_click > view > signup > purchase", 3, False),
    ]
    stitched = con.execute("select count(*) from events where is_stitched").fetchone()[0]
    assert stitched == 2


def test_duplicates_by_event_id_and_by_content(build_rows):
    base = {"customer_id": "c1", "event_time": "2026-01-01T09:00:00Z", "touchpoint": "view"}
    rows = [
        {**base, "event_id": "e1"},
        {**base, "event_id": "e1", "touchpoint": "changed"},  # same id: a duplicate
        {**base, "event_id": "", "channel": "web"},
        {**base, "event_id": "", "channel": "web"},  # same content, no id: a duplicate
        {**base, "event_id": "", "channel": "app"},  # different content: kept
    ]
    con = build_rows(rows)
    loads = con.execute(
        "select rows_read, rows_accepted, rows_duplicate, rows_rejected from file_loads"
    ).fetchone()
    assert loads == (5, 3, 2, 0)
    kept = con.execute("select touchpoint from events where event_id = 'e1'").fetchall()
    assert kept == [("view",)]


def test_rejected_rows_keep_reason_and_raw_content(build_rows):
    rows = [
        {"customer_id": "c1", "event_time": "2026-01-01T09:00:00Z", "touchpoint": "ok"},
        {"customer_id": "", "event_time": "2026-01-01T09:00:00Z", "touchpoint": "no_id"},
        {"customer_id": "c1", "event_time": "yesterday", "touchpoint": "bad_time"},
        {"customer_id": "c1", "event_time": "2026-01-01T09:00:00Z", "touchpoint": "  "},
        {
            "customer_id": "c1",
            "event_time": "2026-01-01T09:00:00Z",
            "touchpoint": "buy",
            "revenue": "12,50 EUR",
        },
    ]
    con = build_rows(rows)
    rejected = con.execute(
        "select source_row, reason, raw::json ->> 'touchpoint' from rejected_events order by 1"
    ).fetchall()
    assert rejected == [
        (3, "missing_customer_id", "no_id"),
        (4, "invalid_event_time", "bad_time"),
        (5, "missing_touchpoint", None),
        (6, "invalid_revenue", "buy"),
    ]
