"""BG/NBD fitted on a log's history: the probabilistic baseline and the long-horizon scorer."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from cjm.churn.bgnbd import BGNBD, activity_summary
from cjm.churn.definition import customer_sample, drop_table

# A small ridge on the BG/NBD parameters: plain maximum likelihood can run off to a corner (a or b
# near 0 or huge) on short logs with few repeat customers.
BGNBD_PENALIZER = 0.001


def fit_bgnbd(
    con: duckdb.DuckDBPyConnection,
    cutoff: datetime,
    max_customers: int | None = None,
    random_state: int = 0,
) -> BGNBD:
    """BG/NBD fitted on the history before cutoff of all customers, or of max_customers of them
    drawn at random (fixed by random_state): four parameters need far fewer than millions."""
    sample = customer_sample(con, "_cjm_churn_bgnbd_fit", cutoff, max_customers, random_state)
    try:
        summary = activity_summary(con, cutoff, sample)
    finally:
        drop_table(con, sample)
    return BGNBD(penalizer=BGNBD_PENALIZER).fit(summary["x"], summary["t_x"], summary["T"])


def p_quiet(
    fitted: BGNBD, summary: pd.DataFrame, customers: pd.Series, horizon: timedelta
) -> np.ndarray:
    rows = summary.set_index("customer_id").reindex(customers.astype(str))
    days = horizon.total_seconds() / 86400
    return np.asarray(fitted.p_no_purchase(rows["x"], rows["t_x"], rows["T"], days), dtype=float)


def bgnbd_churn_probability(
    con: duckdb.DuckDBPyConnection,
    cutoff: datetime,
    customers: pd.Series,
    horizon: timedelta,
    max_fit_customers: int | None = None,
    random_state: int = 0,
) -> np.ndarray:
    """The BG/NBD baseline: P(no active day in the horizon after cutoff), fitted on the history
    before the cutoff (of at most max_fit_customers customers; the model needs no labels)."""
    fitted = fit_bgnbd(con, cutoff, max_fit_customers, random_state)
    return p_quiet(fitted, activity_summary(con, cutoff), customers, horizon)


class HorizonProbability(ClassifierMixin, BaseEstimator):
    """A probability already computed per customer (a column of X) used as the score as it is.

    The probabilistic model's P(no active day in the horizon) scores customers when no supervised
    labels can be formed for the horizon; wrapping it as an estimator lets scoring and reasons
    treat it like any fitted model (fit learns nothing).
    """

    def __init__(self, column: str = "bgnbd_p_quiet"):
        self.column = column

    def fit(self, X: pd.DataFrame, y: np.ndarray | None = None) -> HorizonProbability:
        """Nothing to learn: the column is the probability."""
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """[P(stays), P(no activity in the horizon)] per row; a missing value counts as 0.5."""
        p = np.clip(np.nan_to_num(np.asarray(X[self.column], dtype=float), nan=0.5), 0.0, 1.0)
        return np.column_stack([1 - p, p])
