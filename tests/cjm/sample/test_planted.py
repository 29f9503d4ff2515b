"""The structure planted in the sample: identities, sessions, churn and its precursors, customer
types, pain and delight points, and the truth file that describes them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cjm.sample import CHURN_PRECURSORS, OUT_COLUMNS, generate_sample, simulate_events
from tests.cjm.sample.reader import stitch

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
    stitched = stitch(events, customers).sort_values(["true_customer", "event_time"])
    assert stitched["customer_type"].notna().all()
    gap = stitched.groupby("true_customer")["event_time"].diff()
    starts = gap.isna() | (gap > pd.Timedelta(minutes=30))
    assert starts.sum() == truth["sessions"]
    per_customer = starts.groupby(stitched["true_customer"]).sum()
    recorded = customers.set_index("customer_id")["sessions"]
    assert (per_customer == recorded.reindex(per_customer.index)).all()


def test_churners_are_silent_after_their_churn_date(small) -> None:
    summary, events, _, customers, _ = small
    stitched = stitch(events, customers)
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
    stitched = stitch(events, customers).sort_values(["true_customer", "event_time"])
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
    stitched = stitch(events, customers)
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
    stitched = stitch(events, customers)
    stitched = stitched[stitched["signed_up"]]
    mix = pd.crosstab(stitched["true_customer"], stitched["touchpoint"], normalize="index").join(
        pd.crosstab(stitched["true_customer"], "ch_" + stitched["channel"], normalize="index")
    )
    labels = KMeans(5, n_init=5, random_state=0).fit_predict(StandardScaler().fit_transform(mix))
    types = customers.set_index("customer_id").loc[mix.index, "customer_type"]
    assert adjusted_rand_score(types, labels) >= 0.9


def test_payment_error_is_a_pain_point_and_loyalty_reward_a_delight(small) -> None:
    _, events, _, customers, _ = small
    stitched = stitch(events, customers).sort_values(["true_customer", "event_time"])
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
    stitched = stitch(events, customers).sort_values(["true_customer", "event_time"])
    stitched = stitched[stitched["true_customer"].isin(new)]
    first = stitched.groupby("true_customer")["touchpoint"].first().map(stages)
    assert first.isin(["awareness", "consideration"]).mean() > 0.9
    bought = stitched[stitched["touchpoint"] == "purchase"].groupby("true_customer").size()
    assert len(bought) > 0.5 * len(new)


def test_truth_file_describes_the_sample(small, small_args) -> None:
    summary, _, _, customers, truth = small
    assert truth["seed"] == small_args["seed"]
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
