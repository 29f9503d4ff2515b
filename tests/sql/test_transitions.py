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
        "select scope, segment, from_touchpoint, sum(probability) from transitions group by all"
    ).fetchall()
    assert all(abs(total - 1) < 1e-9 for *_, total in out_of)


def test_session_scope_restarts_at_every_session(build_rows):
    rows = [
        {"customer_id": "c1", "event_time": "2026-01-01T09:00:00Z", "touchpoint": "a"},
        {"customer_id": "c1", "event_time": "2026-01-01T09:01:00Z", "touchpoint": "b"},
        # next day: a new session, so the session graph starts again at (start)
        {"customer_id": "c1", "event_time": "2026-01-02T09:00:00Z", "touchpoint": "a"},
        {"customer_id": "c2", "event_time": "2026-01-01T09:00:00Z", "touchpoint": "a"},
        {"customer_id": "c2", "event_time": "2026-01-01T09:03:00Z", "touchpoint": "b"},
    ]
    con = build_rows(rows)
    got = con.execute(
        "select from_touchpoint, to_touchpoint, transition_count, customer_count, "
        "round(probability, 4), median_seconds, segment_type, segment_value from transitions "
        "where scope = 'session' and segment = 'all' order by 1, 2"
    ).fetchall()
    assert got == [
        ("(start)", "a", 3, 2, 1.0, None, "all", "all"),
        ("a", "(end)", 1, 1, round(1 / 3, 4), None, "all", "all"),
        ("a", "b", 2, 2, round(2 / 3, 4), 120.0, "all", "all"),
        ("b", "(end)", 2, 2, 1.0, None, "all", "all"),
    ]
    # every session starts and ends once; the hop b -> a between c1's sessions is not an edge
    ends = con.execute(
        "select sum(transition_count) filter (where to_touchpoint = '(end)'), "
        "sum(transition_count) filter (where from_touchpoint = '(start)'), "
        "count(*) filter (where from_touchpoint = 'b' and to_touchpoint = 'a') "
        "from transitions where scope = 'session'"
    ).fetchone()
    assert ends == (3, 3, 0)
    assert con.execute("select count(*) from sessions").fetchone()[0] == 3
