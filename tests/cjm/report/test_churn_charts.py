"""Churn figures of cjm.report.churn_charts on tiny frames with hand-counted answers."""

from __future__ import annotations

import pandas as pd

from cjm.report.churn_charts import (
    PATTERN_LABEL_CHARS,
    calibration_figure,
    patterns_figure,
    risk_figure,
)


def test_risk_figure_counts_scores_per_twentieth_and_tier():
    risk = pd.DataFrame(
        {
            "risk_score": [0.0, 0.04, 0.06, 0.5, 0.99],
            "risk_tier": ["low", "low", "low", "high", "high"],
        }
    )
    fig = risk_figure(risk)
    by_tier = {t.name: list(t.y) for t in fig.data}
    assert set(by_tier) == {"high tier", "low tier"}
    low, high = by_tier["low tier"], by_tier["high tier"]
    assert len(low) == len(high) == 20
    # 0 and 0.04 in [0, 0.05], 0.06 in (0.05, 0.10]; 0.5 in (0.45, 0.50]; 0.99 in (0.95, 1]
    assert low[:2] == [2, 1] and sum(low) == 3
    assert high[9] == 1 and high[19] == 1 and sum(high) == 2
    assert fig.layout.barmode == "stack"


def test_calibration_figure_draws_each_model_in_prediction_order_beside_the_diagonal():
    calibration = pd.DataFrame(
        {
            "model": ["churn_model", "churn_model", "recency_baseline"],
            "bin": [5, 1, 0],
            "mean_predicted": [0.55, 0.15, 0.05],
            "observed_rate": [0.6, 0.1, 0.07],
            "count": [10, 40, 90],
        }
    )
    fig = calibration_figure(calibration)
    names = [t.name for t in fig.data]
    assert names == ["perfectly calibrated", "churn_model", "recency_baseline"]
    model = fig.data[1]
    assert list(model.x) == [0.15, 0.55] and list(model.y) == [0.1, 0.6]
    assert list(model.customdata) == [40, 10]


def test_patterns_figure_keeps_the_top_lifts_escaped_and_cut():
    long = " > ".join(["support_chat"] * 8)
    patterns = pd.DataFrame(
        {
            "pattern": ["a > b", "<b>x</b> > c", long, "d"],
            "customer_count": [10, 20, 5, 50],
            "churn_rate": [0.5, 0.9, 0.8, 0.1],
            "lift": [2.0, 3.0, 2.5, 0.5],
            "q_value": [0.01, 0.001, 0.02, 0.5],
        }
    )
    fig = patterns_figure(patterns, top=3)
    (bars,) = fig.data
    assert list(bars.x) == [3.0, 2.5, 2.0]  # highest lift first, "d" left out
    assert bars.y[0] == "&lt;b&gt;x&lt;/b&gt; &gt; c"  # shown as written, never as markup
    assert bars.y[1] == long[: PATTERN_LABEL_CHARS - 1].replace(">", "&gt;") + "…"
    assert bars.customdata[1][0] == long.replace(">", "&gt;")  # whole in the hover
    assert bars.text[0] == "90% of 20 customers churned"
