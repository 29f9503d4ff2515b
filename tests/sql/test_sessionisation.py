"""Golden rows for sessions: the inactivity gap, ordering, ties and time zones."""

from __future__ import annotations


def _sessions(con, customer="c1"):
    return con.execute(
        "select touchpoint, session_index, event_index from events "
        "where customer_id = ? order by event_index",
        [customer],
    ).fetchall()


def test_gap_exactly_at_just_under_and_just_over_thirty_minutes(build_rows):
    rows = [
        {"customer_id": "c1", "event_time": "2026-01-01T10:00:00Z", "touchpoint": "a"},
        # 29:59 later: same session
        {"customer_id": "c1", "event_time": "2026-01-01T10:29:59Z", "touchpoint": "b"},
        # exactly 30:00 later: a gap equal to the timeout starts a new session
        {"customer_id": "c1", "event_time": "2026-01-01T10:59:59Z", "touchpoint": "c"},
        # 30:01 later: new session
        {"customer_id": "c1", "event_time": "2026-01-01T11:30:00Z", "touchpoint": "d"},
    ]
    con = build_rows(rows)
    assert _sessions(con) == [("a", 1, 1), ("b", 1, 2), ("c", 2, 3), ("d", 3, 4)]
    sessions = con.execute(
        "select session_index, event_count, entry_touchpoint, exit_touchpoint, duration_seconds "
        "from sessions order by session_index"
    ).fetchall()
    assert sessions == [(1, 2, "a", "b", 1799.0), (2, 1, "c", "c", 0.0), (3, 1, "d", "d", 0.0)]


def test_configured_gap_is_used(build_rows):
    rows = [
        {"customer_id": "c1", "event_time": "2026-01-01T10:00:00Z", "touchpoint": "a"},
        {"customer_id": "c1", "event_time": "2026-01-01T10:09:00Z", "touchpoint": "b"},
        {"customer_id": "c1", "event_time": "2026-01-01T10:20:00Z", "touchpoint": "c"},
    ]
    con = build_rows(rows, {"session_gap_minutes": 10})
    assert _sessions(con) == [("a", 1, 1), ("b", 1, 2), ("c", 2, 3)]


def test_out_of_order_rows_are_sorted_by_time(build_rows):
    rows = [
        {"customer_id": "c1", "event_time": "2026-01-02T09:00:00Z", "touchpoint": "late"},
        {"customer_id": "c1", "event_time": "2026-01-01T09:00:00Z", "touchpoint": "first"},
        {"customer_id": "c1", "event_time": "2026-01-01T09:05:00Z", "touchpoint": "second"},
    ]
    con = build_rows(rows)
    assert _sessions(con) == [("first", 1, 1), ("second", 1, 2), ("late", 2, 3)]
    path = con.execute("select path from journeys").fetchone()[0]
    assert path == "first > second > late"


def test_ties_in_time_keep_file_order(build_rows):
    rows = [
        {"customer_id": "c1", "event_time": "2026-01-01T09:00:00Z", "touchpoint": "cart"},
        {"customer_id": "c1", "event_time": "2026-01-01T09:00:00Z", "touchpoint": "checkout"},
        {"customer_id": "c1", "event_time": "2026-01-01T09:00:00Z", "touchpoint": "purchase"},
    ]
    con = build_rows(rows)
    assert [r[0] for r in _sessions(con)] == ["cart", "checkout", "purchase"]


def test_offsets_that_cross_midnight_are_the_same_instant(build_rows):
    rows = [
        # 23:50 in New York on Jan 1 is 04:50 UTC on Jan 2
        {"customer_id": "c1", "event_time": "2026-01-01T23:50:00-05:00", "touchpoint": "a"},
        # 05:55 in Paris on Jan 2 is 04:55 UTC: five minutes later, same session
        {"customer_id": "c1", "event_time": "2026-01-02T05:55:00+01:00", "touchpoint": "b"},
        {"customer_id": "c1", "event_time": "2026-01-02T05:00:00Z", "touchpoint": "c"},
    ]
    con = build_rows(rows)
    assert _sessions(con) == [("a", 1, 1), ("b", 1, 2), ("c", 1, 3)]
    first = con.execute("select strftime(min(event_time), '%Y-%m-%d %H:%M') from events")
    assert first.fetchone()[0] == "2026-01-02 04:50"


def test_naive_times_use_the_configured_timezone_across_dst(build_rows):
    # Europe/Amsterdam moves from +01:00 to +02:00 at 02:00 local on 2026-03-29.
    rows = [
        {"customer_id": "c1", "event_time": "2026-03-29 01:50:00", "touchpoint": "before"},
        # 03:10 local is CEST (+02:00): 01:10 UTC, twenty minutes after 00:50 UTC
        {"customer_id": "c1", "event_time": "2026-03-29 03:10:00", "touchpoint": "after"},
    ]
    con = build_rows(rows, {"timezone": "Europe/Amsterdam"})
    times = con.execute(
        "select strftime(event_time, '%H:%M'), session_index from events order by event_index"
    ).fetchall()
    assert times == [("00:50", 1), ("01:10", 1)]


def test_epoch_seconds_and_milliseconds(build_rows):
    rows = [
        {"customer_id": "c1", "event_time": "1767261600", "touchpoint": "s"},
        {"customer_id": "c1", "event_time": "1767261660000", "touchpoint": "ms"},
    ]
    con = build_rows(rows)
    times = con.execute(
        "select strftime(event_time, '%Y-%m-%d %H:%M:%S') from events order by event_index"
    ).fetchall()
    assert times == [("2026-01-01 10:00:00",), ("2026-01-01 10:01:00",)]


def test_each_event_knows_its_neighbours(build_rows):
    rows = [
        {"customer_id": "c1", "event_time": "2026-01-01T10:00:00Z", "touchpoint": "a"},
        {"customer_id": "c1", "event_time": "2026-01-01T10:05:00Z", "touchpoint": "b"},
        # 31 minutes later: a new session, across which previous_touchpoint still looks back
        {"customer_id": "c1", "event_time": "2026-01-01T10:36:00Z", "touchpoint": "c"},
        {"customer_id": "c2", "event_time": "2026-01-01T10:00:00Z", "touchpoint": "a"},
    ]
    con = build_rows(rows)
    got = con.execute(
        "select customer_id, touchpoint, previous_touchpoint, seconds_since_previous, "
        "is_session_start, is_session_end, is_journey_end from events "
        "order by customer_id, event_index"
    ).fetchall()
    assert got == [
        ("c1", "a", None, None, True, False, False),
        ("c1", "b", "a", 300.0, False, True, False),
        ("c1", "c", "b", 1860.0, True, True, True),
        ("c2", "a", None, None, True, True, True),
    ]
