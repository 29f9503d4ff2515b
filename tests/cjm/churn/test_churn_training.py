"""The reasons' bound: the risk above which the riskiest customers get their reasons."""

import numpy as np

from cjm.churn.batches import reason_threshold


def test_the_reason_bound_is_the_risk_of_the_riskiest_share():
    risks = np.linspace(0.1, 1.0, 10)
    # 30 of 100 customers: the top 30% of the sample, 0.8 and above
    assert reason_threshold(risks, 100, 30) == 0.8
    assert (risks >= reason_threshold(risks, 100, 30)).sum() == 3
    assert reason_threshold(risks, 30, 30) == -np.inf
    assert reason_threshold(risks, 100, None) == -np.inf
