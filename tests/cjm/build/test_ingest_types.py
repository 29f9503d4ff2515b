"""Types and headers are checked: scalar ids and touchpoints, unique names, JSON kept JSON."""

from __future__ import annotations

import gzip
import json

import pytest

from cjm.build.files import IngestError
from tests.conftest import build


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_json_objects_and_arrays_as_ids_or_touchpoints_are_rejected(tmp_path):
    time = "2026-01-01T10:00:00Z"
    path = _jsonl(
        tmp_path / "nested.jsonl",
        [
            {"customer_id": {"id": "F0"}, "event_time": time, "touchpoint": "view"},
            {"customer_id": "c1", "event_time": time, "touchpoint": ["product_view"]},
            {"customer_id": "c1", "event_time": time, "touchpoint": "view", "channel": {"a": 1}},
            {
                "customer_id": "c1",
                "anonymous_id": [1],
                "event_id": {},
                "event_time": time,
                "touchpoint": "view",
            },
            {"customer_id": "c1", "event_time": time, "touchpoint": "[view]"},  # text, not a list
        ],
    )
    con = build([path])
    assert con.execute("select source_row, reason from rejected_events order by 1").fetchall() == [
        (1, "customer_id_not_scalar"),
        (2, "touchpoint_not_scalar"),
        (3, "channel_not_scalar"),
        (4, "anonymous_id_not_scalar; event_id_not_scalar"),
    ]
    assert con.execute("select touchpoint from events").fetchall() == [("[view]",)]


def test_nested_json_properties_are_stored_as_json(tmp_path):
    row = {
        "customer_id": "c1",
        "event_time": "2026-01-01T10:00:00Z",
        "touchpoint": "view",
        "cart": {"items": [1, 2], "coupon": None},
        "tags": ["a", "b"],
        "quantity": 5,
        "text": '{"not": "parsed"}',
    }
    for path in (tmp_path / "p.jsonl", tmp_path / "p.jsonl.gz"):
        content = json.dumps(row) + "\n"
        if path.suffix == ".gz":
            path.write_bytes(gzip.compress(content.encode()))
        else:
            path.write_text(content, encoding="utf-8")
        con = build([path])
        (properties,) = con.execute("select properties from events").fetchone()
        # nested values are JSON; scalars keep their text, as before, so a string of JSON stays one
        assert json.loads(properties) == {
            "cart": {"items": [1, 2], "coupon": None},
            "tags": ["a", "b"],
            "quantity": "5",
            "text": '{"not": "parsed"}',
        }
        assert con.execute("select properties -> 'cart' ->> 'items' from events").fetchone() == (
            "[1,2]",
        )


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("customer_id,event_time,touchpoint,customer_id", "'customer_id' twice, as fields 1 and 4"),
        (
            "customer_id,event_time,Touchpoint,touchpoint",
            "'Touchpoint' twice ('Touchpoint' and 'touchpoint'), as fields 3 and 4",
        ),
    ],
)
def test_duplicate_header_names_are_an_error_naming_both_positions(tmp_path, header, message):
    path = tmp_path / "dup.csv"
    path.write_text(header + "\nc1,2026-01-01T10:00:00Z,view,c2\n", encoding="utf-8")
    with pytest.raises(IngestError) as err:
        build([path])
    assert str(err.value) == (
        f"{path}: the header has column {message}; rename one of them in the file"
    )
    # an unnamed field twice is not a name twice
    path.write_text("customer_id,event_time,touchpoint,,\nc1,2026-01-01T10:00:00Z,view,x,y\n")
    assert build([path]).execute("select count(*) from events").fetchone() == (1,)
