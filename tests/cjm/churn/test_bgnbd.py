import math
from datetime import UTC, datetime

import numpy as np
import pytest

from cjm.churn.bgnbd import BGNBD, activity_summary, bgnbd_log_likelihood
from cjm.db import connect

# The parameters Fader, Hardie and Lee report for the CDNOW sample (weeks).
CDNOW = (0.243, 4.414, 0.793, 2.426)


def beta(p, q):
    return math.exp(math.lgamma(p) + math.lgamma(q) - math.lgamma(p + q))


def hand_likelihood(r, alpha, a, b, x, t_x, T):
    """Equation (6) of the paper, term by term."""
    rate = math.gamma(r + x) * alpha**r / math.gamma(r)
    stays = beta(a, b + x) / beta(a, b) * rate / (alpha + T) ** (r + x)
    drops = beta(a + 1, b + x - 1) / beta(a, b) * rate / (alpha + t_x) ** (r + x) if x else 0.0
    return stays + drops


@pytest.mark.parametrize(("x", "t_x", "T"), [(2, 30.43, 38.86), (0, 0.0, 38.86), (7, 10.0, 52.0)])
def test_log_likelihood_matches_the_hand_computed_formula(x, t_x, T):
    got = bgnbd_log_likelihood(np.array(CDNOW), np.array([x]), np.array([t_x]), np.array([T]))
    assert got[0] == pytest.approx(math.log(hand_likelihood(*CDNOW, x, t_x, T)), rel=1e-10)


def simulate(n, r, alpha, a, b, T, seed):
    """The BG/NBD story: Poisson purchases at rate lambda, dropping out after each with prob p."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    x, t_x = np.zeros(n), np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > T:
                break
            x[i], t_x[i] = x[i] + 1, t
            if rng.random() < p[i]:
                break
    return x, t_x, np.full(n, T)


def test_fit_recovers_the_parameters_of_simulated_customers():
    x, t_x, T = simulate(4000, 0.5, 10.0, 0.7, 3.0, 60.0, seed=1)
    model = BGNBD().fit(x, t_x, T)
    assert model is not None and model.converged_
    r, alpha, a, b = model.params_
    assert r == pytest.approx(0.5, rel=0.2) and alpha == pytest.approx(10.0, rel=0.3)
    assert a / (a + b) == pytest.approx(0.7 / 3.7, rel=0.3)  # mean dropout probability
    # the fitted likelihood beats the starting point and the truth does not beat the fit
    assert model.log_likelihood_ >= bgnbd_log_likelihood((0.5, 10.0, 0.7, 3.0), x, t_x, T).sum()


def test_p_alive_and_quiet_probability():
    model = BGNBD()
    model.params_ = CDNOW
    r, alpha, a, b = CDNOW
    # no repeat purchase: cannot have dropped out yet (dropout follows a purchase)
    assert model.p_alive(np.array([0]), np.array([0.0]), np.array([30.0]))[0] == 1.0
    x, t_x, T = 3, 10.0, 40.0
    odds = a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    alive = 1 / (1 + odds)
    assert model.p_alive(np.array([x]), np.array([t_x]), np.array([T]))[0] == pytest.approx(alive)
    quiet = (1 - alive) + alive * ((alpha + T) / (alpha + T + 13)) ** (r + x)
    got = model.p_no_purchase(np.array([x]), np.array([t_x]), np.array([T]), 13)[0]
    assert got == pytest.approx(quiet)
    # a customer who bought recently is more likely alive than one silent since long ago
    recent, stale = model.p_alive(np.array([3, 3]), np.array([39.0, 5.0]), np.array([40.0, 40.0]))
    assert recent > stale


def test_activity_summary_counts_active_days():
    con = connect()
    con.execute("create table events (customer_id varchar, event_time timestamptz)")
    con.executemany(
        "insert into events values (?, ?::timestamptz)",
        [
            ("a", "2024-01-01 10:00+00"),
            ("a", "2024-01-01 18:00+00"),  # same day: one active day
            ("a", "2024-01-05 09:00+00"),
            ("a", "2024-01-11 09:00+00"),
            ("b", "2024-01-09 12:00+00"),
            ("a", "2024-02-01 09:00+00"),  # after the cutoff
        ],
    )
    out = activity_summary(con, datetime(2024, 1, 11, 12, tzinfo=UTC)).set_index("customer_id")
    assert out.loc["a"].to_dict() == {"x": 2.0, "t_x": 10.0, "T": 10.5}
    assert out.loc["b"].to_dict() == {"x": 0.0, "t_x": 0.0, "T": 2.5}
