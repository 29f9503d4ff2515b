"""The written sample: reproducible, the bundled copy current, messy exactly as recorded, times
in every accepted format."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cjm.sample import generate_sample
from tests.cjm.sample.reader import classify, read_rows

REPO = Path(__file__).resolve().parents[3]
BUNDLED = REPO / "data" / "sample"
NAIVE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


# ---------------------------------------------------------------------------------------------
# Reproducibility and the bundled copy
# ---------------------------------------------------------------------------------------------


def _all_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_cjm_sample_command_writes_what_generate_sample_writes(tmp_path: Path, capsys) -> None:
    from cjm.cli.main import main

    assert main(["sample", "--out", str(tmp_path / "cli"), "--customers", "40", "--seed", "5"]) == 0
    assert "events for 40 customers" in capsys.readouterr().out
    generate_sample(tmp_path / "api", customers=40, seed=5)
    assert _all_bytes(tmp_path / "cli") == _all_bytes(tmp_path / "api")


def test_same_seed_gives_same_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    first = generate_sample(tmp_path / "a", customers=120, seed=5)
    generate_sample(tmp_path / "b", customers=120, seed=5)
    generate_sample(tmp_path / "c", customers=120, seed=6)
    a, b, c = (_all_bytes(tmp_path / name) for name in "abc")
    assert set(a) == {
        "cjm.yaml",
        "events/events_app.jsonl",
        "events/events_store.parquet",
        "events/events_web.csv",
        "truth/customers.csv",
        "truth/truth.json",
    }
    assert a == b
    for name in first.files:
        key = str(name.relative_to(tmp_path / "a"))
        assert a[key] != c[key]


def test_bundled_sample_is_what_the_defaults_generate(tmp_path: Path) -> None:
    assert (BUNDLED / "events").is_dir(), "regenerate: python -m cjm.sample --out data/sample"
    generate_sample(tmp_path)
    for name in ("events_web.csv", "events_app.jsonl"):
        committed = (BUNDLED / "events" / name).read_text(encoding="utf-8").splitlines()
        fresh = (tmp_path / "events" / name).read_text(encoding="utf-8").splitlines()
        assert committed == fresh, name
    store = "events/events_store.parquet"
    pd.testing.assert_frame_equal(
        pq.read_table(BUNDLED / store).to_pandas(), pq.read_table(tmp_path / store).to_pandas()
    )
    for name in ("truth/customers.csv", "cjm.yaml"):
        committed = (BUNDLED / name).read_text().splitlines()
        assert committed == (tmp_path / name).read_text().splitlines(), name
    committed_truth = json.loads((BUNDLED / "truth" / "truth.json").read_text())
    assert committed_truth == json.loads((tmp_path / "truth" / "truth.json").read_text())
    size = sum(p.stat().st_size for p in BUNDLED.rglob("*") if p.is_file())
    assert size < 5 * 1024 * 1024


def test_sample_config_names_the_timezone(small) -> None:
    summary, *_ = small
    text = (summary.out_dir / "cjm.yaml").read_text()
    assert "timezone: Europe/Amsterdam" in text.splitlines()


# ---------------------------------------------------------------------------------------------
# Messy rows are exactly what the summary and the truth file say
# ---------------------------------------------------------------------------------------------


def test_messy_counts_match_the_files(small) -> None:
    summary, events, counts, _, truth = small
    assert set(counts) == set(summary.messy_rows) == set(truth["messy_rows"])
    total_rows = len(events)
    for name, kinds in counts.items():
        duplicates = kinds.get("duplicate", 0)
        rejected = {k: n for k, n in kinds.items() if k != "duplicate"}
        expected = {"duplicate": duplicates, "rejected": sum(rejected.values())}
        assert summary.messy_rows[name] == expected
        assert truth["messy_rows"][name]["duplicate"] == duplicates
        assert truth["messy_rows"][name]["rejected_by_kind"] == rejected
        total_rows += sum(kinds.values())
    assert len(events) == summary.events == truth["events"]
    # Every kind of mess is there, and it is a small share of the rows.
    assert set(counts["events_web.csv"]) >= {"broken_line", "bad_time", "bad_revenue", "duplicate"}
    assert set(counts["events_app.jsonl"]) >= {"invalid_json", "bad_sentiment", "missing_ids"}
    assert set(counts["events_store.parquet"]) >= {"missing_time", "blank_touchpoint"}
    assert 0.01 <= (total_rows - len(events)) / total_rows <= 0.025


def test_some_duplicates_are_copies_in_another_file(small) -> None:
    summary, *_ = small
    ids: dict[str, set[str]] = {}
    for row in read_rows(summary.out_dir / "events"):
        if "broken" not in row:
            ids.setdefault(row["file"], set()).add(row["event_id"])
    names = sorted(ids)
    shared = sum(len(ids[a] & ids[b]) for i, a in enumerate(names) for b in names[i + 1 :])
    assert shared > 0


def test_messy_false_writes_only_clean_rows(tmp_path: Path) -> None:
    summary = generate_sample(tmp_path, customers=80, seed=2, messy=False)
    events, counts = classify(tmp_path / "events")
    assert all(kinds == {} for kinds in counts.values())
    assert all(m == {"duplicate": 0, "rejected": 0} for m in summary.messy_rows.values())
    assert len(events) == summary.events


# ---------------------------------------------------------------------------------------------
# Time: formats, time zone, order
# ---------------------------------------------------------------------------------------------


def test_every_written_time_is_the_simulated_instant(small, small_log) -> None:
    _, events, *_ = small
    truth = small_log.events.set_index("event_id")["event_time"]
    assert (events["event_time"] == events["event_id"].map(truth)).all()


def test_naive_times_are_amsterdam_wall_clock_across_the_dst_change(small, small_log) -> None:
    _, events, *_ = small
    naive = events[events["raw_time"].map(lambda v: isinstance(v, str) and bool(NAIVE.match(v)))]
    instant = naive["event_id"].map(small_log.events.set_index("event_id")["event_time"])
    wall = pd.to_datetime(naive["raw_time"])
    offset_hours = (wall - instant.dt.tz_localize(None)).dt.total_seconds() / 3600
    before = instant < pd.Timestamp("2026-03-29T01:00Z")
    assert (offset_hours[before] == 1).all() and before.sum() > 20
    assert (offset_hours[~before] == 2).all() and (~before).sum() > 20


def test_text_files_mix_time_formats_and_parquet_has_typed_utc_times(small) -> None:
    summary, events, *_ = small
    for name in ("events_web.csv", "events_app.jsonl"):
        raw = events.loc[events["file"] == name, "raw_time"].astype(str)
        assert raw.str.endswith("Z").any()
        assert raw.str.match(NAIVE.pattern).any()
        assert raw.str.fullmatch(r"\d{10}").any()
        assert raw.str.fullmatch(r"\d{13}").any()
        offsets = events[(events["file"] == name) & raw.str.match(r".*[+-]\d\d:\d\d$")]
        assert len(offsets) > 0
        # Some offset times fall on another calendar day than their UTC instant.
        local_day = offsets["raw_time"].str[:10]
        assert (local_day != offsets["event_time"].dt.strftime("%Y-%m-%d")).any()
    jsonl = events[events["file"] == "events_app.jsonl"]["raw_time"]
    assert jsonl.map(lambda v: isinstance(v, int)).any()
    parquet = [p for p in summary.files if p.suffix == ".parquet"][0]
    assert pq.read_schema(parquet).field("event_time").type == pa.timestamp("us", tz="UTC")


def test_rows_are_mostly_but_not_entirely_in_time_order(small) -> None:
    summary, *_ = small
    for path in summary.files:
        if path.suffix != ".parquet":
            continue
        times = pq.read_table(path)["event_time"].to_pandas().dropna()
        ordered = (times.diff().dropna() >= pd.Timedelta(0)).mean()
        assert 0.6 < ordered < 0.99


def test_log_spans_the_requested_days(small) -> None:
    summary, events, _, _, truth = small
    assert summary.log_end == datetime(2026, 4, 30, tzinfo=UTC)
    assert (summary.log_end - summary.log_start).days == 89
    assert truth["log_start"] == "2026-01-31" and truth["log_end"] == "2026-04-30"
    assert events["event_time"].min() >= pd.Timestamp("2026-01-31T00:00Z")
    assert events["event_time"].max() < pd.Timestamp("2026-05-01T00:00Z")
