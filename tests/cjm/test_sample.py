"""The synthetic sample: reproducible, messy exactly as recorded, and with its structure planted."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cjm.sample import (
    CHURN_PRECURSORS,
    OUT_COLUMNS,
    generate_sample,
    simulate_events,
)

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "data" / "sample"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
SMALL = {"customers": 400, "seed": 3}
NAIVE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


# ---------------------------------------------------------------------------------------------
# An independent reader: classifies every row of the written files the way the contract says.
# ---------------------------------------------------------------------------------------------


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _parse_time(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int):
        return datetime.fromtimestamp(value / 1000 if value > 10**11 else value, tz=UTC)
    try:
        parsed = datetime.fromisoformat(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=AMSTERDAM)
    return parsed.astimezone(UTC)


def _defects(values: dict) -> list[str]:
    found = []
    if _parse_time(values.get("event_time")) is None:
        found.append("time")
    if _blank(values.get("customer_id")) and _blank(values.get("anonymous_id")):
        found.append("missing_ids")
    if _blank(values.get("touchpoint")):
        found.append("blank_touchpoint")
    if not _blank(values.get("revenue")) and _number(values.get("revenue")) is None:
        found.append("bad_revenue")
    sentiment = values.get("sentiment")
    if not _blank(sentiment):
        number = _number(sentiment)
        if number is None or not -1 <= number <= 1:
            found.append("bad_sentiment")
    return found


def _read_rows(events_dir: Path) -> list[dict]:
    """Every data row of every file, in reading order, with its raw values (or why not)."""
    rows = []
    for path in sorted(events_dir.iterdir()):
        if path.suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as f:
                reader = csv.reader(f)
                header = next(reader)
                for fields in reader:
                    if len(fields) != len(header):
                        rows.append({"file": path.name, "broken": "broken_line"})
                    else:
                        rows.append({"file": path.name, **dict(zip(header, fields, strict=True))})
        elif path.suffix == ".jsonl":
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    rows.append({"file": path.name, **json.loads(line)})
                except json.JSONDecodeError:
                    rows.append({"file": path.name, "broken": "invalid_json"})
        else:
            for record in pq.read_table(path).to_pylist():
                rows.append({"file": path.name, **record})
    return rows


def _classify(events_dir: Path) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """Accepted rows (parsed) and, per file, duplicates and rejected rows by kind."""
    seen: set[str] = set()
    accepted, counts = [], {}
    for row in _read_rows(events_dir):
        kinds = counts.setdefault(row["file"], {})
        if "broken" in row:
            kinds[row["broken"]] = kinds.get(row["broken"], 0) + 1
            continue
        defects = _defects(row)
        assert len(defects) <= 1, f"a messy row has more than one defect: {row}"
        if defects:
            kind = defects[0]
            if kind == "time":
                kind = "missing_time" if row["file"].endswith(".parquet") else "bad_time"
            kinds[kind] = kinds.get(kind, 0) + 1
            assert row["event_id"] not in seen
            continue
        if row["event_id"] in seen:
            kinds["duplicate"] = kinds.get("duplicate", 0) + 1
            continue
        seen.add(row["event_id"])
        accepted.append(
            {
                "event_id": row["event_id"],
                "customer_id": None if _blank(row.get("customer_id")) else row["customer_id"],
                "anonymous_id": None if _blank(row.get("anonymous_id")) else row["anonymous_id"],
                "raw_time": row["event_time"],
                "event_time": _parse_time(row["event_time"]),
                "touchpoint": row["touchpoint"],
                "channel": row.get("channel"),
                "revenue": None if _blank(row.get("revenue")) else _number(row["revenue"]),
                "sentiment": None if _blank(row.get("sentiment")) else _number(row["sentiment"]),
                "file": row["file"],
            }
        )
    frame = pd.DataFrame(accepted)
    frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True)
    return frame, counts


def _stitched(events: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """Events with the true customer: anonymous-only rows are resolved through the truth file."""
    by_anon = customers.dropna(subset=["anonymous_id"]).set_index("anonymous_id")["customer_id"]
    who = events["customer_id"].fillna(events["anonymous_id"].map(by_anon))
    return events.assign(true_customer=who).merge(
        customers.rename(columns={"customer_id": "true_customer", "anonymous_id": "anon"}),
        on="true_customer",
        how="left",
    )


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("sample")
    summary = generate_sample(out, **SMALL)
    events, counts = _classify(out / "events")
    customers = pd.read_csv(out / "truth" / "customers.csv", dtype={"churn_date": str})
    truth = json.loads((out / "truth" / "truth.json").read_text())
    return summary, events, counts, customers, truth


# ---------------------------------------------------------------------------------------------
# Reproducibility and the bundled copy
# ---------------------------------------------------------------------------------------------


def _all_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_cjm_sample_command_writes_what_generate_sample_writes(tmp_path: Path, capsys) -> None:
    from cjm.cli import main

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
    for row in _read_rows(summary.out_dir / "events"):
        if "broken" not in row:
            ids.setdefault(row["file"], set()).add(row["event_id"])
    names = sorted(ids)
    shared = sum(len(ids[a] & ids[b]) for i, a in enumerate(names) for b in names[i + 1 :])
    assert shared > 0


def test_messy_false_writes_only_clean_rows(tmp_path: Path) -> None:
    summary = generate_sample(tmp_path, customers=80, seed=2, messy=False)
    events, counts = _classify(tmp_path / "events")
    assert all(kinds == {} for kinds in counts.values())
    assert all(m == {"duplicate": 0, "rejected": 0} for m in summary.messy_rows.values())
    assert len(events) == summary.events


# ---------------------------------------------------------------------------------------------
# Time: formats, time zone, order
# ---------------------------------------------------------------------------------------------


def test_every_written_time_is_the_simulated_instant(small) -> None:
    _, events, *_ = small
    truth = simulate_events(**SMALL).events.set_index("event_id")["event_time"]
    assert (events["event_time"] == events["event_id"].map(truth)).all()


def test_naive_times_are_amsterdam_wall_clock_across_the_dst_change(small) -> None:
    _, events, *_ = small
    naive = events[events["raw_time"].map(lambda v: isinstance(v, str) and bool(NAIVE.match(v)))]
    instant = naive["event_id"].map(
        simulate_events(**SMALL).events.set_index("event_id")["event_time"]
    )
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


# ---------------------------------------------------------------------------------------------
# Identity, sessions, churn
# ---------------------------------------------------------------------------------------------


def test_anonymous_ids_link_to_one_customer_through_a_both_id_event(small) -> None:
    _, events, _, customers, _ = small
    both = events.dropna(subset=["customer_id", "anonymous_id"])
    links = both.groupby("anonymous_id")["customer_id"].unique()
    assert links.map(len).eq(1).all()
    expected = customers.dropna(subset=["anonymous_id"]).set_index("anonymous_id")["customer_id"]
    assert (links.map(lambda ids: ids[0]) == expected.reindex(links.index)).all()

    anon_only = events[events["customer_id"].isna()]
    assert anon_only["anonymous_id"].notna().all()
    linked = anon_only[anon_only["anonymous_id"].isin(links.index)]
    assert linked["anonymous_id"].nunique() > 50
    # Browsing anonymously comes before the first event that names the customer.
    last_anonymous = linked.groupby("anonymous_id")["event_time"].max()
    first_both = both.groupby("anonymous_id")["event_time"].min()
    assert (last_anonymous < first_both.reindex(last_anonymous.index)).all()
    never = set(anon_only["anonymous_id"]) - set(links.index)
    visitors = customers[~customers["signed_up"]]
    assert never and never == set(visitors["anonymous_id"]) & set(anon_only["anonymous_id"])
    assert (visitors["customer_id"] == "anon:" + visitors["anonymous_id"]).all()


def test_a_30_minute_gap_recovers_the_sessions(small) -> None:
    _, events, _, customers, truth = small
    stitched = _stitched(events, customers).sort_values(["true_customer", "event_time"])
    assert stitched["customer_type"].notna().all()
    gap = stitched.groupby("true_customer")["event_time"].diff()
    starts = gap.isna() | (gap > pd.Timedelta(minutes=30))
    assert starts.sum() == truth["sessions"]
    per_customer = starts.groupby(stitched["true_customer"]).sum()
    recorded = customers.set_index("customer_id")["sessions"]
    assert (per_customer == recorded.reindex(per_customer.index)).all()


def test_churners_are_silent_after_their_churn_date(small) -> None:
    summary, events, _, customers, _ = small
    stitched = _stitched(events, customers)
    churners = stitched[stitched["is_churner"]]
    churn_day = pd.to_datetime(churners["churn_date"]).dt.tz_localize("UTC")
    assert (churners["event_time"] < churn_day).all()

    signed = customers[customers["signed_up"]]
    assert 0.25 <= signed["is_churner"].mean() <= 0.35
    rates = signed.groupby("customer_type")["is_churner"].mean()
    assert rates.idxmax() == "support_heavy"
    dates = pd.to_datetime(signed.loc[signed["is_churner"], "churn_date"])
    log_end = pd.Timestamp(summary.log_end.date())
    assert (dates <= log_end).sum() > 10 and (dates > log_end).sum() > 10
    assert customers.loc[~customers["is_churner"], "churn_date"].isna().all()


def test_activity_fades_and_precursors_come_before_churn(small) -> None:
    summary, events, _, customers, _ = small
    stitched = _stitched(events, customers).sort_values(["true_customer", "event_time"])
    path = stitched.groupby("true_customer")["touchpoint"].agg(" > ".join)
    has_precursor = path.map(lambda p: any(" > ".join(seq) in p for seq in CHURN_PRECURSORS))
    info = customers.set_index("customer_id").reindex(path.index)
    churned_in_log = info["is_churner"] & (
        pd.to_datetime(info["churn_date"]) <= pd.Timestamp(summary.log_end.date())
    )
    assert has_precursor[churned_in_log].mean() > 0.6
    assert has_precursor[~info["is_churner"]].mean() < 0.08
    # Fewer events in the three weeks before churn than in the three weeks before that (for
    # churners seen for longer than those six weeks).
    churners = stitched[stitched["true_customer"].isin(info.index[churned_in_log])]
    to_churn = pd.to_datetime(churners["churn_date"]).dt.tz_localize("UTC") - churners["event_time"]
    seen_long = to_churn.groupby(churners["true_customer"]).transform("max") > pd.Timedelta(days=42)
    to_churn = to_churn[seen_long]
    recent = (to_churn <= pd.Timedelta(days=21)).sum()
    earlier = ((to_churn > pd.Timedelta(days=21)) & (to_churn <= pd.Timedelta(days=42))).sum()
    assert recent < earlier


# ---------------------------------------------------------------------------------------------
# Behaviour: types, pain and delight points, revenue and sentiment
# ---------------------------------------------------------------------------------------------


def test_types_have_distinct_touchpoint_and_channel_habits(small) -> None:
    _, events, _, customers, truth = small
    stitched = _stitched(events, customers)
    top = stitched.groupby("customer_type")["touchpoint"].agg(lambda s: s.value_counts().index[0])
    assert top.is_unique and len(top) == 5
    channel = stitched.groupby("customer_type")["channel"].agg(lambda s: s.value_counts().index[0])
    assert channel["mobile_regular"] == "mobile_app"
    assert channel["support_heavy"] == "call_center"
    assert channel["loyal_advocate"] == "store"
    for name, spec in truth["customer_types"].items():
        assert next(iter(spec["top_touchpoints"])) == top[name]


def test_kmeans_on_touchpoint_and_channel_mix_recovers_the_types(small) -> None:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler

    _, events, _, customers, _ = small
    stitched = _stitched(events, customers)
    stitched = stitched[stitched["signed_up"]]
    mix = pd.crosstab(stitched["true_customer"], stitched["touchpoint"], normalize="index").join(
        pd.crosstab(stitched["true_customer"], "ch_" + stitched["channel"], normalize="index")
    )
    labels = KMeans(5, n_init=5, random_state=0).fit_predict(StandardScaler().fit_transform(mix))
    types = customers.set_index("customer_id").loc[mix.index, "customer_type"]
    assert adjusted_rand_score(types, labels) >= 0.9


def test_payment_error_is_a_pain_point_and_loyalty_reward_a_delight(small) -> None:
    _, events, _, customers, _ = small
    stitched = _stitched(events, customers).sort_values(["true_customer", "event_time"])
    nxt = stitched.groupby("true_customer")["touchpoint"].shift(-1)
    gap = stitched.groupby("true_customer")["event_time"].shift(-1) - stitched["event_time"]
    same_session = gap <= pd.Timedelta(minutes=30)

    errors = stitched["touchpoint"] == "payment_error"
    assert errors.sum() > 10
    assert (~same_session[errors]).mean() > 0.75
    assert stitched.loc[errors, "sentiment"].mean() < -0.4
    rewards = stitched["touchpoint"] == "loyalty_reward"
    followed = same_session & nxt.isin(["purchase", "reorder"])
    assert followed[rewards].mean() > 0.75
    assert stitched.loc[rewards, "sentiment"].mean() > 0.4

    # Customers who hit a payment error get through checkout less often, and churn more.
    checkouts = stitched["touchpoint"] == "checkout"
    paid = (same_session & (nxt == "purchase"))[checkouts].groupby(stitched["true_customer"]).mean()
    hit = errors.groupby(stitched["true_customer"]).any().reindex(paid.index)
    assert paid[hit].mean() < 0.5 < paid[~hit].mean()


def test_payment_errors_go_with_churn() -> None:
    # At the bundled size: in a few hundred customers only a dozen or two hit an error, and since
    # churners fade out (fewer sessions, fewer checkouts) the difference is within noise there.
    log = simulate_events()
    events = log.events.merge(
        log.customers[["customer_id", "is_churner"]],
        left_on="true_customer_id",
        right_on="customer_id",
        suffixes=("", "_truth"),
    )
    per_customer = events.groupby("true_customer_id")
    hit = per_customer["touchpoint"].agg(lambda t: (t == "payment_error").any())
    checked_out = per_customer["touchpoint"].agg(lambda t: (t == "checkout").any())
    churner = per_customer["is_churner"].first()
    assert hit.sum() > 30
    assert churner[hit & checked_out].mean() > 1.5 * churner[~hit & checked_out].mean()


def test_revenue_and_sentiment_only_where_they_belong(small) -> None:
    _, events, *_ = small
    with_revenue = events["revenue"].notna()
    assert set(events.loc[with_revenue, "touchpoint"]) == {"purchase", "reorder"}
    assert (events.loc[with_revenue, "revenue"] > 0).all()
    conversions = events["touchpoint"].isin(["purchase", "reorder"])
    assert with_revenue[conversions].all()
    feedback = {
        "support_chat",
        "complaint",
        "ticket",
        "refund_request",
        "review_posted",
        "loyalty_reward",
        "payment_error",
    }
    with_sentiment = events["sentiment"].notna()
    assert set(events.loc[with_sentiment, "touchpoint"]) == feedback
    assert with_sentiment[events["touchpoint"].isin(feedback)].all()
    assert events.loc[with_sentiment, "sentiment"].between(-1, 1).all()


def test_journeys_move_from_awareness_towards_purchase(small) -> None:
    _, events, _, customers, truth = small
    stages = truth["stages"]
    assert set(events["touchpoint"]) <= set(stages)
    new = set(events.loc[events["touchpoint"] == "signup", "customer_id"])
    stitched = _stitched(events, customers).sort_values(["true_customer", "event_time"])
    stitched = stitched[stitched["true_customer"].isin(new)]
    first = stitched.groupby("true_customer")["touchpoint"].first().map(stages)
    assert first.isin(["awareness", "consideration"]).mean() > 0.9
    bought = stitched[stitched["touchpoint"] == "purchase"].groupby("true_customer").size()
    assert len(bought) > 0.5 * len(new)


def test_truth_file_describes_the_sample(small) -> None:
    summary, _, _, customers, truth = small
    assert truth["seed"] == SMALL["seed"]
    assert truth["customers"] == summary.customers == customers["signed_up"].sum()
    assert truth["timezone"] == "Europe/Amsterdam"
    assert truth["horizon_end"] == "2026-06-29"
    assert truth["pain_points"] == ["payment_error"]
    assert truth["delight_points"] == ["loyalty_reward"]
    assert [tuple(seq) for seq in truth["churn_precursors"]] == list(CHURN_PRECURSORS)
    assert set(truth["customer_types"]) == set(customers["customer_type"])
    assert list(customers.columns[:6]) == [
        "customer_id",
        "anonymous_id",
        "customer_type",
        "is_churner",
        "churn_date",
        "signed_up",
    ]
    assert tuple(pd.read_csv(summary.files[2], nrows=0).columns) == OUT_COLUMNS


def test_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate_sample(tmp_path, customers=0)


def test_event_volume_per_customer_stays_in_range() -> None:
    log = simulate_events(customers=2000, seed=1)
    assert 25 <= len(log.events) / 2000 <= 50
    assert log.customers["signed_up"].sum() == 2000
    assert (log.customers.loc[log.customers["signed_up"], "events"] > 0).all()
