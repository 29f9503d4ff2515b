"""Acceptance on the synthetic sample: the churn list and patterns against the generator's truth.

The generator writes events only up to the log's last day but simulates churn `horizon_days` (60)
beyond it, and writes every churner's churn date to truth/customers.csv: the customers who stop in
the 30 days after the last day are known without any event from that period.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from cjm import stages, steps
from cjm.build.files import discover_files
from cjm.config import load_config
from cjm.db import connect
from cjm.sample import CHURN_PRECURSORS, generate_sample

pytestmark = pytest.mark.slow  # a generated log published through every step, judged by its truth

JUDGE_DAYS = 30


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("churn_sample")
    summary = generate_sample(out / "sample", horizon_days=60)
    config = load_config(out / "sample" / "cjm.yaml")
    build = out / "build.duckdb"
    steps.load_events(build, discover_files(out / "sample" / "events"), config)
    steps.build_journeys(build, config)
    stages.build_personas(build, config)
    stages.score_churn(build, config)
    with connect(build, read_only=True) as con:
        risk = con.execute("select * from churn_risk").df()
        anonymous_active = con.execute(
            "select count(*) from journeys join customer_churn_state using (customer_id) "
            "where journeys.is_anonymous and not customer_churn_state.is_churned"
        ).fetchone()[0]
        patterns = con.execute("select * from churn_patterns").df()
        metrics = con.execute("select * from churn_model_metrics").df()
    truth = pd.read_csv(out / "sample" / "truth" / "customers.csv", dtype={"churn_date": str})
    assert anonymous_active > 0  # the sample has active visitors who never signed up
    return summary, risk, patterns, metrics, truth


def test_risk_scores_rank_the_churners_of_the_next_30_days(sample_run):
    summary, risk, _, metrics, truth = sample_run
    everyone = risk.merge(truth, on="customer_id", how="left", validate="one_to_one")
    assert everyone["customer_type"].notna().all()
    # every identified customer is scored; the save list is the active ones
    assert set(everyone["customer_state"]) >= {"active", "lapsed"}
    scored = everyone[everyone["customer_state"] == "active"]
    assert len(scored) > 500
    # churned by the end of the 30 days after the last day (the truth's churn date is the first
    # day without activity); a customer who already stopped but is not yet past the inactivity
    # threshold is on the list and counts as churned too
    last_day = pd.Timestamp(summary.log_end.date())
    churn_date = pd.to_datetime(scored["churn_date"])
    y = (scored["is_churner"] & (churn_date <= last_day + timedelta(days=JUDGE_DAYS))).to_numpy()
    assert 30 < y.sum() < 0.3 * len(y)
    auc = roc_auc_score(y, scored["risk_score"])
    assert auc >= 0.85
    # and better than recency alone on the same customers
    recency = (scored["scored_at"] - scored["last_seen_at"]).dt.total_seconds()
    assert auc > roc_auc_score(y, recency) + 0.05
    # the high tier holds far more of them than the rest
    high = scored["risk_tier"] == "high"
    assert y[high].mean() > 3 * y[~high].mean()
    assert set(metrics["model"]) == {
        "churn_model",
        "model_bgnbd_blend",
        "recency_baseline",
        "bgnbd_baseline",
    }


def test_planted_precursors_are_among_the_top_patterns(sample_run):
    _, _, patterns, _, _ = sample_run
    top = list(patterns["pattern"].head(5))
    for sequence in CHURN_PRECURSORS:
        assert " > ".join(sequence) in top
    assert (patterns["q_value"] <= 0.05).all() and (patterns["lift_low"] > 1).all()


def test_reasons_cite_patterns_and_numbers(sample_run):
    _, risk, _, _, _ = sample_run
    high = risk[risk["risk_tier"] == "high"]
    exited = high["customer_state"] == "exited"
    assert high.loc[exited, "reasons"].str.startswith("left through an exit touchpoint").all()
    assert high.loc[~exited, "reasons"].str.contains(r"\d").mean() > 0.95
    assert (high["reasons"].str.count("; ") <= 2).all()
    cited = high["reasons"].str.extract(r"followed (.+?) \(churn lift (\d+\.\d)\)")
    assert cited[0].notna().sum() >= 10
    assert (cited[1].dropna().astype(float) > 1).all()
    # the customer's own rhythm is the comparison: "usually every N", "usual: N"
    assert high["reasons"].str.contains("usual").mean() > 0.2


def test_list_is_ranked_without_gaps_and_holds_only_contactable_customers(sample_run):
    _, risk, _, _, truth = sample_run
    # visitors who never identified themselves are not scored, so no rank is left out for them
    assert sorted(risk["rank"]) == list(range(1, len(risk) + 1))
    signed_up = set(truth.loc[truth["signed_up"].astype(bool), "customer_id"])
    assert set(risk["customer_id"]) <= signed_up
    ranked = risk.sort_values("rank")
    assert ranked["risk_score"].is_monotonic_decreasing


def test_lapsed_customers_who_come_back_score_lower_than_those_who_stopped(sample_run):
    _, risk, _, _, truth = sample_run
    lapsed = risk[risk["customer_state"] == "lapsed"].merge(truth, on="customer_id")
    stopped = lapsed["is_churner"].astype(bool).to_numpy()
    assert 0 < stopped.sum() < len(lapsed)
    assert roc_auc_score(stopped, lapsed["risk_score"]) > 0.7
