"""The small sample most tests of the generator read, written once for the package."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cjm.sample import SimulatedLog, generate_sample, simulate_events
from tests.cjm.sample.reader import classify

SMALL = {"customers": 400, "seed": 3}


@pytest.fixture(scope="package")
def small_args() -> dict[str, int]:
    """The arguments the small sample is generated with."""
    return dict(SMALL)


@pytest.fixture(scope="package")
def small_log() -> SimulatedLog:
    """The clean simulated log of the small sample (what its files must hold)."""
    return simulate_events(**SMALL)


@pytest.fixture(scope="package")
def small(tmp_path_factory: pytest.TempPathFactory):
    """The small sample written once: summary, accepted events, messy counts, customers, truth."""
    out = tmp_path_factory.mktemp("sample")
    summary = generate_sample(out, **SMALL)
    events, counts = classify(out / "events")
    customers = pd.read_csv(out / "truth" / "customers.csv", dtype={"churn_date": str})
    truth = json.loads((out / "truth" / "truth.json").read_text())
    return summary, events, counts, customers, truth
