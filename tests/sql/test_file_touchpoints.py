"""int_file_touchpoints: the files and touchpoints of the accepted, first-copy events, from which
the source files are ranked and the touchpoint stages mapped."""

from __future__ import annotations

from tests.conftest import build, write_csv


def test_files_and_touchpoints_of_first_copies_only(tmp_path):
    a = write_csv(
        tmp_path / "a.csv",
        [
            {
                "event_id": "e1",
                "customer_id": "c1",
                "event_time": "2026-01-01T10:00:00Z",
                "touchpoint": "view",
            },
            {
                "event_id": "e2",
                "customer_id": "c1",
                "event_time": "2026-01-01T10:01:00Z",
                "touchpoint": "purchase",
            },
        ],
    )
    b = write_csv(
        tmp_path / "b.csv",
        [
            # a later copy of e1, a rejected row, and one event
            {
                "event_id": "e1",
                "customer_id": "c2",
                "event_time": "2026-01-02T10:00:00Z",
                "touchpoint": "support_call",
            },
            {"event_id": "e3", "customer_id": "c2", "event_time": "", "touchpoint": "refund"},
            {
                "event_id": "e4",
                "customer_id": "c2",
                "event_time": "2026-01-02T11:00:00Z",
                "touchpoint": "view",
            },
        ],
    )
    # a file whose only row is a later copy: it has no events
    c = write_csv(
        tmp_path / "c.csv",
        [
            {
                "event_id": "e2",
                "customer_id": "c3",
                "event_time": "2026-01-03T10:00:00Z",
                "touchpoint": "review",
            }
        ],
    )
    seen = {}

    def capture(con) -> None:
        seen["pairs"] = con.execute(
            "select source_file, touchpoint from int_file_touchpoints order by all"
        ).fetchall()
        seen["files"] = con.execute(
            "select source_file, file_rank from int_source_files order by file_rank"
        ).fetchall()
        seen["stages"] = con.execute(
            "select touchpoint, stage, is_conversion_touchpoint from cfg_touchpoint_stages "
            "order by touchpoint"
        ).fetchall()

    build([a, b, c], {"stages": {"view": "consideration"}}, hooks={"events": capture})
    fa, fb = str(a.resolve()), str(b.resolve())
    assert seen["pairs"] == [(fa, "purchase"), (fa, "view"), (fb, "view")]
    assert seen["files"] == [(fa, 1), (fb, 2)]
    assert seen["stages"] == [("purchase", "purchase", True), ("view", "consideration", False)]
