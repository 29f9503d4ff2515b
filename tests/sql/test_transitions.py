"""Golden rows for the journey-scope transition graph, start and end nodes included."""

from __future__ import annotations


def test_transitions_follow_whole_journeys_with_start_and_end(build_rows):
    rows = [
        {"customer_id": "c1", "event_time": "2026-01-01T09:00:00Z", "touchpoint": "a"},
        {"customer_id": "c1", "event_time": "2026-01-01T09:01:00Z", "touchpoint": "b"},
        # next day: a new session, but still one journey
        {"customer_id": "c1", "event_time": "2026-01-02T09:00:00Z", "touchpoint": "a"},
        {"customer_id": "c2", "event_time": "2026-01-01T09:00:00Z", "touchpoint": "a"},
        {"customer_id": "c2", "event_time": "2026-01-01T09:03:00Z", "touchpoint": "b"},
    ]
    con = build_rows(rows)
    got = con.execute(
        "select from_touchpoint, to_touchpoint, transition_count, customer_count, "
        "round(probability, 4), median_seconds from transitions "
        "where scope = 'journey' and segment = 'all' order by 1, 2"
    ).fetchall()
    assert got == [
        ("(start)", "a", 2, 2, 1.0, None),
        ("a", "(end)", 1, 1, round(1 / 3, 4), None),
        ("a", "b", 2, 2, round(2 / 3, 4), 120.0),
        ("b", "(end)", 1, 1, 0.5, None),
        ("b", "a", 1, 1, 0.5, 86340.0),
    ]
    out_of = con.execute(
        "select from_touchpoint, sum(probability) from transitions group by 1"
    ).fetchall()
    assert all(abs(total - 1) < 1e-9 for _, total in out_of)
