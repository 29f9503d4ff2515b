"""The activity-adjusted lift: the Mantel-Haenszel risk ratio, by hand."""

import math

import pandas as pd
import pytest

from cjm.journeys.lifts import adjusted_lift


def test_adjusted_lift_is_the_mantel_haenszel_risk_ratio():
    # stratum 1: touched 2 of 10 with the outcome, untouched 4 of 10; stratum 2: touched 10 of 20,
    # untouched 3 of 5; stratum 3 has no untouched customers and adds nothing.
    # R = 2*10/20 + 10*5/25 = 3, S = 4*10/20 + 3*20/25 = 4.4, RR = 3 / 4.4
    # Greenland-Robins: P = (10*10*6 - 2*4*20)/20^2 + (20*5*13 - 10*3*25)/25^2 = 1.1 + 0.88,
    # var(ln RR) = P / (R S) = 1.98 / 13.2 = 0.15
    touched = pd.DataFrame(
        {"touchpoint": "t", "stratum": [1, 2, 3], "n": [10, 20, 5], "yes": [2, 10, 5]}
    )
    totals = pd.DataFrame({"stratum": [1, 2, 3], "n": [20, 25, 5], "yes": [6, 13, 5]})
    got = adjusted_lift(touched, totals).loc["t"]
    rr, se = 3 / 4.4, math.sqrt(0.15)
    assert got["adjusted"] == pytest.approx(rr)
    assert got["low"] == pytest.approx(rr * math.exp(-1.959964 * se))
    assert got["high"] == pytest.approx(rr * math.exp(1.959964 * se))
