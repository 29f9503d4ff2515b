"""The truth folder: per-customer truth and truth.json, what the sample planted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from cjm.sample.customer_types import CUSTOMER_TYPES
from cjm.sample.messy import rejected
from cjm.sample.simulate import SimulatedLog
from cjm.sample.touchpoints import (
    CHURN_PRECURSORS,
    CONVERSION_TOUCHPOINTS,
    DELIGHT_POINTS,
    PAIN_POINTS,
    TOUCHPOINT_STAGES,
)
from cjm.sample.window import SAMPLE_TIMEZONE
from cjm.sample.writers import EVENT_FILES, write_lines


def write_truth(
    truth_dir: Path,
    log: SimulatedLog,
    seed: int,
    planted: dict[str, dict[str, int]],
    per_file: np.ndarray,
) -> None:
    """Write customers.csv and truth.json: what was simulated, planted and written where."""
    log.customers.to_csv(truth_dir / "customers.csv", index=False, lineterminator="\n")
    truth = {
        "seed": seed,
        "customers": int(log.customers["signed_up"].sum()),
        "anonymous_visitors": int((~log.customers["signed_up"]).sum()),
        "churners": int(log.customers["is_churner"].sum()),
        "log_start": log.log_start.date().isoformat(),
        "log_end": log.log_end.date().isoformat(),
        "horizon_end": log.horizon_end.date().isoformat(),
        "timezone": SAMPLE_TIMEZONE,
        "session_gap_minutes": 30,
        "events": len(log.events),
        "sessions": int(log.events["true_session"].nunique()),
        "events_per_file": {name: int(n) for name, n in zip(EVENT_FILES, per_file, strict=True)},
        "customer_types": _type_truth(log),
        "stages": TOUCHPOINT_STAGES,
        "conversion_touchpoints": list(CONVERSION_TOUCHPOINTS),
        "pain_points": list(PAIN_POINTS),
        "delight_points": list(DELIGHT_POINTS),
        "churn_precursors": [list(seq) for seq in CHURN_PRECURSORS],
        "messy_rows": {name: _messy_truth(kinds) for name, kinds in planted.items()},
    }
    write_lines(truth_dir / "truth.json", [json.dumps(truth, indent=2)])


def _type_truth(log: SimulatedLog) -> dict[str, dict]:
    """Per customer type: description, size, churn rate, main channels and touchpoints."""
    events = log.events.merge(
        log.customers[["customer_id", "customer_type"]],
        left_on="true_customer_id",
        right_on="customer_id",
        suffixes=("", "_truth"),
    )
    types = {}
    for ctype in CUSTOMER_TYPES:
        of_type = events[events["customer_type"] == ctype.name]
        members = log.customers[log.customers["customer_type"] == ctype.name]
        types[ctype.name] = {
            "description": ctype.description,
            "customers": int(members["signed_up"].sum()),
            "churn_rate": round(float(members.loc[members["signed_up"], "is_churner"].mean()), 4),
            "channels": _shares(of_type["channel"], 6),
            "top_touchpoints": _shares(of_type["touchpoint"], 5),
            "mean_days_between_sessions": ctype.mean_gap_days,
        }
    return types


def _messy_truth(kinds: dict[str, int]) -> dict:
    """The duplicates and broken rows planted in one file."""
    return {
        "duplicate": kinds.get("duplicate", 0),
        "rejected": rejected(kinds),
        "rejected_by_kind": {k: n for k, n in kinds.items() if k != "duplicate"},
    }


def _shares(values: pd.Series, top: int) -> dict[str, float]:
    """Shares of the `top` most frequent values, rounded to 4 decimals."""
    shares = values.value_counts(normalize=True).head(top)
    return {str(k): round(float(v), 4) for k, v in shares.items()}
