"""The churn model card: what was scored, by which model, how well, and what to be careful of."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime

import pandas as pd

from cjm.churn.definition import ChurnDefinition
from cjm.churn.features import churn_feature_descriptions
from cjm.churn.holdout import TRUSTED_AUC, Choice
from cjm.churn.model import LEARNED
from cjm.churn.reasons import REASON_MIN_EFFECT, REASON_MIN_SHARE
from cjm.config_sections import ChurnSettings
from cjm.personas.features import describe_feature

ESTIMATORS = {
    "churn_model": "HistGradientBoostingClassifier, sigmoid-calibrated (CalibratedClassifierCV, "
    "3 folds)",
    "model_bgnbd_blend": "the mean of the churn model's probability and BG/NBD's",
    "recency_baseline": "logistic regression on days since the last event",
    "bgnbd_baseline": "BG/NBD P(no active day in the horizon), as it is",
}
REASONS_METHOD = (
    "a cited behaviour (a feature, or related features together) is on the side that raises the "
    "risk against the typical (median) active customer, and setting it to that typical value "
    f"lowers this customer's risk by at least {REASON_MIN_EFFECT:.0%} and by at least "
    f"{REASON_MIN_SHARE:.0%} of it; largest first"
)


@dataclass(frozen=True)
class Training:
    """What the scoring fit was trained on, for the card."""

    n_train: int  # (customer, cutoff) rows fitted
    n_rows: int  # rows labelled at the cutoffs
    training_customers: int  # customers drawn for labelling
    all_customers: int  # customers seen by the last cutoff
    sampled: bool  # whether customers were drawn at random
    train_positives: int
    base_rate: float  # how often active customers went quiet
    thresholds: tuple[float, float] | None  # (high, medium), None without tiers


def model_card(
    definition: ChurnDefinition,
    cutoffs: list[datetime],
    end: datetime,
    settings: ChurnSettings,
    choice: Choice,
    metrics: pd.DataFrame,
    training: Training,
    features: tuple[list[str], list[str], dict[str, str]],
) -> dict:
    """The card of a run that could train on its own cutoffs (the gate's choice recorded)."""
    used, unused, labels = features
    thresholds = training.thresholds
    sample = "all (customer, cutoff) rows"
    if training.n_train < training.n_rows or training.sampled:
        sample = (
            f"uniform random sample of {training.n_train:,} of {training.n_rows:,} (customer, "
            f"cutoff) rows of {training.training_customers:,} of {training.all_customers:,} "
            f"customers (at most churn.max_train_rows = {settings.max_train_rows:,} rows)"
        )
    return {
        "status": "trained",
        "score_source": choice.source,
        "trusted": choice.trusted,
        "choice": choice.note,
        "definition": asdict(definition),
        "question": _question(definition),
        "cutoffs": [c.isoformat() for c in cutoffs],
        "holdout_cutoff": cutoffs[-1].isoformat() if len(cutoffs) > 1 else None,
        "scored_at": end.isoformat(),
        "estimator": ESTIMATORS[choice.source] + "; refit on all cutoffs for scoring; metrics "
        "from fits without the holdout",
        "n_train": training.n_train,
        "training_customers": training.training_customers,
        "train_positives": training.train_positives,
        "base_rate": training.base_rate,
        "max_train_rows": settings.max_train_rows,
        "training_sample": sample,
        "tier_thresholds": {
            "high": thresholds[0] if thresholds else None,
            "medium": thresholds[1] if thresholds else None,
            "rule": "high: at least twice the rate at which active customers go quiet (capped "
            "halfway between it and 1); medium: at least that rate; low: below; 'none' for every "
            f"customer when the scores' holdout ROC AUC is under {TRUSTED_AUC} or its interval "
            "reaches chance",
        },
        "features": used,
        "features_without_data": unused,
        "feature_descriptions": {f: describe_feature(f, labels) for f in used}
        | churn_feature_descriptions(used, labels),
        "reasons_method": REASONS_METHOD,
        "bgnbd_fit_customers": settings.bgnbd_fit_customers,
        "metrics": json.loads(metrics.to_json(orient="records", date_format="iso")),
        "warnings": card_warnings(choice),
    }


def probabilistic_card(
    definition: ChurnDefinition, end: datetime, settings: ChurnSettings, why: str
) -> dict:
    """The card of a run scored by BG/NBD alone because no labels could be formed (why)."""
    warning = (
        f"scores are BG/NBD's chance of no activity in the next {definition.horizon_days} days, "
        f"extrapolated from the history because {why}; no holdout could check them on this log, "
        "so no tiers are given"
    )
    return {
        "status": "probabilistic",
        "score_source": "bgnbd_horizon",
        "trusted": False,
        "choice": warning,
        "definition": asdict(definition),
        "question": _question(definition),
        "cutoffs": [],
        "scored_at": end.isoformat(),
        "estimator": "BG/NBD (Fader, Hardie and Lee 2005) fitted on active days up to the end of "
        "the log, P(no active day in the horizon)",
        "bgnbd_fit_customers": settings.bgnbd_fit_customers,
        "reasons_method": REASONS_METHOD,
        "warnings": [warning],
    }


def _question(definition: ChurnDefinition) -> str:
    exits = ", ".join(definition.exit_touchpoints)
    left = f" or leaving through an exit touchpoint ({exits})" if exits else ""
    return (
        f"risk_score: the chance of no activity in the next {definition.horizon_days} days{left}; "
        "for lapsed customers, of not coming back within it"
    )


def card_warnings(choice: Choice) -> list[str]:
    """Plain-words cautions a reader of the risk list should see before acting on it: why the
    scores come from a baseline, or why they carry no tiers."""
    return [] if choice.trusted and choice.source in LEARNED else [choice.note]
