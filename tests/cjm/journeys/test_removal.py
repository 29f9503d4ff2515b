"""The removal effect: exact on a hand chain, against random walks and one solve per state."""

import math

import numpy as np
import pandas as pd
import pytest

from cjm.journeys.removal import CONVERSION, NULL, START, absorption_probability, removal_effects

# The hand chain. Probabilities: (start) -> A 1/2, B 1/4, C 1/4; A -> B 1/2, conv 1/4, null 1/4;
# B -> A, conv, null 1/3 each; C -> A 1/2, null 1/2.
HAND_CHAIN = {
    (START, "A"): 2,
    (START, "B"): 1,
    (START, "C"): 1,
    ("A", "B"): 2,
    ("A", CONVERSION): 1,
    ("A", NULL): 1,
    ("B", "A"): 1,
    ("B", CONVERSION): 1,
    ("B", NULL): 1,
    ("C", "A"): 1,
    ("C", NULL): 1,
}
# x = conversion probability from a state:
#   x_A = 1/4 + x_B / 2, x_B = 1/3 + x_A / 3  =>  x_A = 1/4 + 1/6 + x_A / 6  =>  x_A = x_B = 1/2
#   x_C = x_A / 2 = 1/4;  P = x_A / 2 + x_B / 4 + x_C / 4 = 1/4 + 1/8 + 1/16 = 7/16
# Without A (into A -> null): x_B = 1/3, x_C = 0;  P = 1/12;  effect = (7/16 - 1/12) / 7/16 = 17/21
# Without B: x_A = 1/4, x_C = 1/8;  P = 1/8 + 1/32 = 5/32;  effect = (14/32 - 5/32) / (14/32) = 9/14
# Without C: x_A = x_B = 1/2;  P = 1/4 + 1/8 = 3/8;  effect = (7/16 - 6/16) / (7/16) = 1/7
HAND_P = 7 / 16
HAND_EFFECTS = {"A": 17 / 21, "B": 9 / 14, "C": 1 / 7}


def test_hand_chain_exact_probability_and_removal_effects():
    assert absorption_probability(HAND_CHAIN) == pytest.approx(HAND_P, abs=1e-12)
    frame = pd.DataFrame([(a, b, c) for (a, b), c in HAND_CHAIN.items()])
    frame.columns = ["from", "to", "count"]
    assert absorption_probability(frame) == pytest.approx(HAND_P, abs=1e-12)
    effects = removal_effects(HAND_CHAIN)
    assert effects.to_dict() == pytest.approx(HAND_EFFECTS, abs=1e-12)
    # A state the chain never visits changes nothing.
    assert removal_effects(HAND_CHAIN, states=["Z"])["Z"] == 0.0


def _walk(counts: dict, removed: str | None, n_walks: int, rng: np.random.Generator) -> float:
    """Share of n_walks random walks from (start) absorbed in (conversion), removed -> (null)."""
    states = sorted({a for a, _ in counts} | {b for _, b in counts})
    index = {s: i for i, s in enumerate(states)}
    cum = np.zeros((len(states), len(states)))
    for (a, b), c in counts.items():
        cum[index[a], index[NULL if b == removed else b]] += c
    rows = cum.sum(axis=1, keepdims=True)
    cum = np.cumsum(np.divide(cum, rows, out=np.zeros_like(cum), where=rows > 0), axis=1)
    absorbing = np.array([s in (CONVERSION, NULL) for s in states])
    at = np.full(n_walks, index[START])
    while not absorbing[at].all():
        moving = ~absorbing[at]
        u = rng.random(moving.sum())
        at[moving] = (u[:, None] > cum[at[moving]]).sum(axis=1)
    return float(np.mean(at == index[CONVERSION]))


def test_monte_carlo_agrees_with_exact_removal_effects():
    rng = np.random.default_rng(20240601)
    n = 200_000
    p_hat = _walk(HAND_CHAIN, None, n, rng)
    assert abs(p_hat - HAND_P) <= 4 * math.sqrt(HAND_P * (1 - HAND_P) / n)
    exact = removal_effects(HAND_CHAIN)
    for state, effect in exact.items():
        q_hat = _walk(HAND_CHAIN, state, n, rng)
        q = HAND_P * (1 - effect)
        # effect_hat = 1 - q_hat / p_hat from two independent runs; delta-method error.
        se = math.sqrt(
            q * (1 - q) / n / HAND_P**2 + (q / HAND_P**2) ** 2 * HAND_P * (1 - HAND_P) / n
        )
        assert abs((1 - q_hat / p_hat) - effect) <= 4 * se, state


def test_removal_effects_match_one_solve_per_state_on_random_chains():
    rng = np.random.default_rng(3)
    for _ in range(5):
        k = 12
        names = [f"s{i}" for i in range(k)]
        counts = rng.integers(0, 4, size=(k + 1, k + 2)) * (rng.random((k + 1, k + 2)) < 0.4)
        counts[:, -2:] += 1  # every state can be absorbed
        targets = names + [CONVERSION, NULL]
        chain = {
            (([START] + names)[i], targets[j]): int(counts[i, j])
            for i in range(k + 1)
            for j in range(k + 2)
            if counts[i, j]
        }
        # Dense reference: transient states (start) + names; removing s zeroes the column of s.
        q = counts[:, :k].astype(float)
        q = np.hstack([np.zeros((k + 1, 1)), q]) / counts.sum(axis=1, keepdims=True)
        r = counts[:, k] / counts.sum(axis=1)
        p = np.linalg.solve(np.eye(k + 1) - q, r)[0]
        assert absorption_probability(chain) == pytest.approx(p, rel=1e-10)
        expected = {}
        for i, name in enumerate(names, start=1):
            cut = q.copy()
            cut[:, i] = 0.0
            expected[name] = (p - np.linalg.solve(np.eye(k + 1) - cut, r)[0]) / p
        assert removal_effects(chain, states=names).to_dict() == pytest.approx(expected, abs=1e-10)
