"""Removal effect (Markov-chain attribution): how much of conversion is lost without a touchpoint.

Per customer, events in event_index order give (start) -> first touchpoint -> ... -> last
touchpoint -> (conversion) if the journey converted, else (null). With transition probabilities
estimated from all customers, P is the probability of absorption in (conversion) from (start),
solved exactly from (I - Q) x = r (sparse LU). Removing t sends every transition into t to (null);
removal_effect = (P - P_without_t) / P. No re-solve per touchpoint is needed: walks that never
visit t are unchanged and walks that do are lost, so P - P_without_t = h(t) * x(t), with x(t) the
conversion probability from t and h(t) = N[start, t] / N[t, t] the probability of ever reaching t
(N = (I - Q)^-1, one back-solve per touchpoint). NaN for all when P == 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.linalg import splu

START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"
# Columns of the back-solve done at once: bounds memory to states x this many doubles.
_SOLVE_BATCH = 256

TransitionCounts = pd.DataFrame | Mapping[tuple[str, str], float]


def _transition_frame(transition_counts: TransitionCounts) -> pd.DataFrame:
    if isinstance(transition_counts, pd.DataFrame):
        frame = transition_counts[["from", "to", "count"]]
    else:
        frame = pd.DataFrame(
            [(a, b, c) for (a, b), c in transition_counts.items()], columns=["from", "to", "count"]
        )
    frame = frame.astype({"from": str, "to": str, "count": float})
    if (frame["count"] < 0).any():
        raise ValueError("transition counts must be non-negative")
    return frame


class _Chain:
    """Transient part of an absorbing chain: states, Q, r (one-step success probability)."""

    def __init__(self, frame: pd.DataFrame, start: str, success: str) -> None:
        # The success state absorbs whatever leaves it; every state without outgoing transitions
        # absorbs as a failure (null).
        frame = frame[(frame["from"] != success) & (frame["count"] > 0)]
        states = pd.Index(pd.unique(pd.concat([pd.Series([start]), frame["from"]])))
        self.states = states
        self.start = int(states.get_loc(start))
        totals = frame.groupby("from")["count"].sum()
        prob = frame["count"].to_numpy() / totals.loc[frame["from"]].to_numpy()
        rows = states.get_indexer(frame["from"])
        cols = states.get_indexer(frame["to"])
        inner = cols >= 0
        n = len(states)
        self.q = sp.csc_matrix((prob[inner], (rows[inner], cols[inner])), shape=(n, n))
        to_success = (frame["to"] == success).to_numpy()
        self.r = np.bincount(rows[to_success], weights=prob[to_success], minlength=n)
        try:
            self.lu = splu(sp.identity(n, format="csc") - self.q)
        except RuntimeError as error:
            raise ValueError(
                "the chain has states from which no walk is ever absorbed (a closed loop)"
            ) from error
        self.x = self.lu.solve(self.r)

    @property
    def probability(self) -> float:
        return float(min(max(self.x[self.start], 0.0), 1.0))

    def removal_effects(self, indices: np.ndarray) -> np.ndarray:
        """(P - P_without_state) / P for the given state indices (never start)."""
        p = self.probability
        out = np.full(len(indices), np.nan)
        if p <= 0:
            return out
        n = len(self.states)
        for lo in range(0, len(indices), _SOLVE_BATCH):
            batch = indices[lo : lo + _SOLVE_BATCH]
            unit = np.zeros((n, len(batch)))
            unit[batch, np.arange(len(batch))] = 1.0
            columns = self.lu.solve(unit)  # columns of N = (I - Q)^-1
            reach = columns[self.start] / columns[batch, np.arange(len(batch))]
            out[lo : lo + len(batch)] = np.clip(reach * self.x[batch] / p, 0.0, 1.0)
        return out


def absorption_probability(
    transition_counts: TransitionCounts, start: str = START, success: str = CONVERSION
) -> float:
    """Exact probability that a walk from `start` is absorbed in `success` (counts: from, to)."""
    return _Chain(_transition_frame(transition_counts), start, success).probability


def removal_effects(
    transition_counts: TransitionCounts,
    states: Iterable[str] | None = None,
    start: str = START,
    success: str = CONVERSION,
) -> pd.Series:
    """(P - P_without_s) / P per state s (default: every transient state but start), exactly."""
    chain = _Chain(_transition_frame(transition_counts), start, success)
    names = [s for s in chain.states if s != start] if states is None else list(states)
    if start in names or success in names:
        raise ValueError("start and success cannot be removed")
    indices = chain.states.get_indexer(names)
    effects = np.zeros(len(names))  # a state the chain never visits changes nothing
    known = indices >= 0
    effects[known] = chain.removal_effects(indices[known])
    if chain.probability <= 0:
        effects[:] = np.nan
    return pd.Series(effects, index=pd.Index(names, name="state"), name="removal_effect")


def _chain_transitions(steps: pd.DataFrame) -> pd.DataFrame:
    """from, to, count of the journey chain; touchpoints prefixed so none is a reserved state."""
    to_tp = "t:" + steps["touchpoint"].astype(str)
    into = pd.DataFrame(
        {
            "from": ("t:" + steps["previous"].astype(str)).where(steps["previous"].notna(), START),
            "to": to_tp,
            "count": steps["n"],
        }
    )
    won = pd.DataFrame({"from": to_tp, "to": CONVERSION, "count": steps["to_conversion"]})
    lost = pd.DataFrame(
        {"from": to_tp, "to": NULL, "count": steps["journey_ends"] - steps["to_conversion"]}
    )
    frame = pd.concat([into, won, lost], ignore_index=True)
    return frame.groupby(["from", "to"], as_index=False)["count"].sum()


def touchpoint_removal_effects(steps: pd.DataFrame, touchpoints: pd.Series) -> np.ndarray:
    """Removal effect of each of `touchpoints` in the chain of the journeys' step counts.

    `steps`: previous, touchpoint, n (steps from previous to touchpoint; previous NULL on a
    journey's first event), journey_ends and to_conversion (journeys ending there, converted).
    """
    chain = _Chain(_chain_transitions(steps), START, CONVERSION)
    return chain.removal_effects(chain.states.get_indexer("t:" + touchpoints))
