"""Churn: what it means for a log, who is at risk within the horizon, and why.

definition (threshold, states, labels, cutoffs), features (churn-only features), training
(rows at each cutoff), model (estimators: the model and its baselines), holdout (forward holdout
and the gate), probabilistic and bgnbd (BG/NBD), scoring (train, choose, score), batches (scoring
every customer in batches), reasons and wording (why, in words), card (the model card), patterns,
and queries (how the churn SQL of sql/analytics is run and composed).
"""

from cjm.churn.batches import CHURN_RISK_COLUMNS, ScoringOutput
from cjm.churn.definition import (
    ChurnDefinition,
    churn_labels,
    churn_state_query,
    customer_churn_state,
    drop_states,
    resolve_churn_definition,
    training_cutoffs,
    write_churn_state,
)
from cjm.churn.model import ChurnResult, make_churn_pipeline, make_recency_baseline
from cjm.churn.probabilistic import bgnbd_churn_probability, fit_bgnbd
from cjm.churn.reasons import add_pattern_reasons
from cjm.churn.scoring import score_churn

__all__ = [
    "CHURN_RISK_COLUMNS",
    "ChurnDefinition",
    "ChurnResult",
    "ScoringOutput",
    "add_pattern_reasons",
    "bgnbd_churn_probability",
    "churn_labels",
    "churn_state_query",
    "customer_churn_state",
    "drop_states",
    "fit_bgnbd",
    "make_churn_pipeline",
    "make_recency_baseline",
    "resolve_churn_definition",
    "score_churn",
    "training_cutoffs",
    "write_churn_state",
]
