"""The churn model and its baselines: factories, training frames, forward-holdout metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from cjm.churn.definition import (
    ChurnDefinition,
)
from cjm.churn.probabilistic import HorizonProbability

# Fewer examples of either class than this and a calibrated model (3-fold) is not meaningful.
MIN_CLASS_COUNT = 10


# The baselines' inputs: always among the scored features, so either baseline can be chosen.
BASELINE_INPUTS = ("recency_days", "bgnbd_p_quiet")


# churn_risk.score_source when BG/NBD extrapolated to the horizon scores everyone (no labels).
PROBABILISTIC_SOURCE = "bgnbd_horizon"


# Typical values (medians, quartiles) and the candidate reasons come from the active customers
# among at most this many drawn at random: enough for a stable median, independent of batches.
REFERENCE_CUSTOMERS = 100_000


# scikit-learn's OpenMP pools default to one thread per core. On a shared machine (other jobs,
# DuckDB) every boosting split then waits at a barrier for a descheduled thread, which made fits and
# predictions 20-50x slower; training is on a bounded sample, so one thread is fast and predictable.
MODEL_THREADS = 1


MODELS = ("churn_model", "model_bgnbd_blend", "recency_baseline", "bgnbd_baseline")
# Scorers that learn from the log's behaviour; the rest are the baselines they must beat.
LEARNED = ("churn_model", "model_bgnbd_blend")


CALIBRATION_DTYPES = {
    "model": str,
    "bin": "int64",
    "bin_low": float,
    "bin_high": float,
    "mean_predicted": float,
    "observed_rate": float,
    "count": "int64",
}


CALIBRATION_COLUMNS = list(CALIBRATION_DTYPES)
# A small ridge on the BG/NBD parameters: plain maximum likelihood can run off to a corner (a or b


@dataclass
class ChurnResult:
    """Scored customers, holdout metrics, model card; pipeline is None when no model was fit.

    churn_risk is None when the scored customers were written to a table (score_churn's
    risk_table) instead.
    """

    churn_risk: pd.DataFrame | None
    metrics: pd.DataFrame
    model_card: dict
    definition: ChurnDefinition | None
    pipeline: Pipeline | None = None
    cutoffs: list[datetime] = field(default_factory=list)
    calibration: pd.DataFrame = field(default_factory=lambda: empty_calibration())
    scorer: object | None = None  # the fitted estimator the published scores came from


def make_churn_pipeline(random_state: int) -> Pipeline:
    """Gradient boosting (handles missing values natively) with sigmoid calibration, 3 folds.

    100 rounds at learning rate 0.1 rank as well as 200 at 0.05 on the forward holdout at half the
    fit and predict time (per-round overhead dominates on small logs); above 10,000 rows the
    booster stops early on a validation slice (scikit-learn's early_stopping="auto").
    """
    booster = HistGradientBoostingClassifier(
        learning_rate=0.1,
        max_iter=100,
        max_leaf_nodes=15,
        min_samples_leaf=20,
        l2_regularization=1.0,
        random_state=random_state,
    )
    return Pipeline([("model", CalibratedClassifierCV(booster, method="sigmoid", cv=3))])


def make_recency_baseline() -> Pipeline:
    """Logistic regression on days since last event: what the model must beat."""
    select = ColumnTransformer([("recency", "passthrough", ["recency_days"])])
    return Pipeline(
        [("select", select), ("scale", StandardScaler()), ("model", LogisticRegression())]
    )


def make_bgnbd_baseline() -> HorizonProbability:
    """BG/NBD's own P(no active day in the horizon), fitted on the history before each cutoff.

    Used as it is, not recalibrated: on short histories the early cutoffs' fits can rank backwards
    (on the bundled sample the pooled training cutoffs ranked at ROC AUC 0.46 while the holdout's
    ranked at 0.83), and a calibration fitted on them turned the holdout upside down.
    """
    return HorizonProbability("bgnbd_p_quiet")


class Blend(ClassifierMixin, BaseEstimator):
    """The mean of a fitted model's probability and a probability column of X (BG/NBD's).

    Two rankers of similar strength that see different things (behaviour, and the purchase
    process's frequency and recency) often rank better together than either alone; the forward
    holdout decides whether this one does on a given log.
    """

    def __init__(self, model: Pipeline, column: str = "bgnbd_p_quiet"):
        self.model = model
        self.column = column

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> Blend:
        """Fit a clone of the model on X."""
        self.model_ = clone(self.model).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """[1 - p, p] with p the mean of the two probabilities."""
        p = (
            self.model_.predict_proba(X)[:, 1]
            + HorizonProbability(self.column).fit(X).predict_proba(X)[:, 1]
        ) / 2
        return np.column_stack([1 - p, p])


def make_scorer(name: str, random_state: int) -> Pipeline:
    """A fresh estimator for one of MODELS (the names metrics and churn_risk.score_source use)."""
    factories = {
        "churn_model": lambda: make_churn_pipeline(random_state),
        "model_bgnbd_blend": lambda: Blend(make_churn_pipeline(random_state)),
        "recency_baseline": make_recency_baseline,
        "bgnbd_baseline": make_bgnbd_baseline,
    }
    return factories[name]()


def empty_calibration() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in CALIBRATION_DTYPES.items()})


def empty_risk() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Series(dtype=str),
            "customer_state": pd.Series(dtype=str),
            "risk_score": pd.Series(dtype=float),
            "risk_tier": pd.Series(dtype=str),
            "reasons": pd.Series(dtype=str),
            "persona_id": pd.Series(dtype="Int64"),
            "last_seen_at": pd.Series(dtype="datetime64[us, UTC]"),
            "scored_at": pd.Series(dtype="datetime64[us, UTC]"),
            "score_source": pd.Series(dtype=str),
            "revenue": pd.Series(dtype=float),
            "value_at_risk": pd.Series(dtype=float),
            "last_touchpoint": pd.Series(dtype=str),
            "last_channel": pd.Series(dtype=str),
            "rank": pd.Series(dtype="Int64"),
        }
    )
