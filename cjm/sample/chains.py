"""Touchpoint chains: each session walks the funnel grammar of its customer type and channel."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cjm.sample.customer_types import CUSTOMER_TYPES, FADE_DAYS, PAYMENT_ERROR_RATE
from cjm.sample.sessions import ANONYMOUS, PLANTED
from cjm.sample.touchpoints import (
    ANONYMOUS_TOUCHPOINTS,
    CHANNEL_TOUCHPOINTS,
    CHURN_PRECURSORS_IDX,
    END,
    ENTRY_CUSTOMER,
    ENTRY_PROSPECT,
    ENTRY_UNHAPPY,
    GRAMMAR,
    MAX_SESSION_EVENTS,
    N_TP,
    SESSION_CHANNELS,
    TOUCHPOINTS,
    TP,
    UNHAPPY_MAX_SHARE,
    UNWEIGHTED_ROWS,
)


def _transition_tables() -> tuple[np.ndarray, np.ndarray]:
    """Cumulative transition and entry probabilities per type and session channel (and phase)."""
    n_types, n_chan = len(CUSTOMER_TYPES), len(SESSION_CHANNELS)
    base = np.zeros((N_TP, N_TP + 1))
    for src, row in GRAMMAR.items():
        for dst, w in row.items():
            base[TP[src], END if dst == "END" else TP[dst]] = w
    allowed = np.ones((n_chan, N_TP + 1), dtype=bool)
    allowed[SESSION_CHANNELS.index("web"), TP["app_open"]] = False
    for name, tps in CHANNEL_TOUCHPOINTS.items():
        allowed[SESSION_CHANNELS.index(name), :N_TP] = [tp in tps for tp in TOUCHPOINTS]
    unweighted = np.array([tp in UNWEIGHTED_ROWS for tp in TOUCHPOINTS])
    anonymous = np.array([tp in ANONYMOUS_TOUCHPOINTS for tp in TOUCHPOINTS])
    prospect = np.array([ENTRY_PROSPECT.get(tp, 0.0) for tp in TOUCHPOINTS])
    customer = np.array([ENTRY_CUSTOMER.get(tp, 0.0) for tp in TOUCHPOINTS])
    unhappy = np.array([ENTRY_UNHAPPY.get(tp, 0.0) for tp in TOUCHPOINTS])
    entry_base = np.stack([prospect * anonymous, prospect, customer, unhappy])

    trans = np.zeros((n_types, n_chan, N_TP, N_TP + 1))
    entry = np.zeros((n_types, len(entry_base), n_chan, N_TP))
    for t, ctype in enumerate(CUSTOMER_TYPES):
        aff = np.array([ctype.affinity.get(tp, 1.0) for tp in TOUCHPOINTS] + [ctype.end_weight])
        weighted = np.where(unweighted[:, None], base, base * aff)
        for c in range(n_chan):
            w = weighted * allowed[c]
            # Rows without a way on (or not in the grammar) end the session.
            w[w[:, :N_TP].sum(axis=1) == 0, END] = 1.0
            w[:, END] = np.maximum(w[:, END], 1e-3)
            trans[t, c] = w / w.sum(axis=1, keepdims=True)
            for phase in range(len(entry_base)):
                e = entry_base[phase] * aff[:N_TP] * allowed[c, :N_TP]
                if e.sum() == 0:
                    e = aff[:N_TP] * allowed[c, :N_TP]
                entry[t, phase, c] = e / e.sum()
    return np.cumsum(trans, axis=-1), np.cumsum(entry, axis=-1)


def _sample_cumulative(cum: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row from rows of cumulative probabilities."""
    return np.minimum((rng.random(len(cum))[:, None] > cum).sum(axis=1), cum.shape[1] - 1)


def fill_sessions(
    s: pd.DataFrame, cust: pd.DataFrame, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Touchpoints of every session as (session row, step, touchpoint) arrays."""
    kind = s["kind"].to_numpy()
    walked = _walk_grammar(s, np.flatnonzero(kind != PLANTED), cust, rng)

    planted = np.flatnonzero(kind == PLANTED)
    seqs = np.array(CHURN_PRECURSORS_IDX)[s["precursor"].to_numpy()[planted]]
    precursors = (
        np.repeat(planted, seqs.shape[1]),
        np.tile(np.arange(seqs.shape[1]), len(planted)),
        seqs.ravel(),
    )
    # The signup or login that links a session to its customer comes before its walk (step -1).
    linked = np.flatnonzero(s["link"].to_numpy() >= 0)
    links = (linked, np.full(len(linked), -1), s["link"].to_numpy()[linked])
    session, step, tp = zip(walked, precursors, links, strict=True)
    return np.concatenate(session), np.concatenate(step), np.concatenate(tp)


def _entry_phase(
    s: pd.DataFrame, rows: np.ndarray, cust: pd.DataFrame, rng: np.random.Generator
) -> np.ndarray:
    """Which entries each session starts from: 0 anonymous, 1 signup, 2 customer, 3 unhappy."""
    c = s["cust"].to_numpy()[rows]
    anon = s["kind"].to_numpy()[rows] == ANONYMOUS
    # Browsing anonymously, signing up, then coming back as a customer (retention entries).
    phase = np.where(anon, 0, np.where(s["link"].to_numpy()[rows] == TP["signup"], 1, 2))
    # Churners' sessions in the fade window start from a support entry more and more often.
    to_churn = cust["churn_day"].to_numpy()[c] - s["day"].to_numpy()[rows]
    closeness = np.where(
        cust["is_churner"].to_numpy()[c], np.clip(1 - to_churn / FADE_DAYS, 0, 1), 0.0
    )
    unhappy = (phase == 2) & (rng.random(len(rows)) < UNHAPPY_MAX_SHARE * closeness)
    return np.where(unhappy, 3, phase)


def _walk_grammar(
    s: pd.DataFrame, rows: np.ndarray, cust: pd.DataFrame, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(session row, step, touchpoint) of the sessions in `rows`, walked from an entry until the
    chain ends or reaches MAX_SESSION_EVENTS."""
    cum_trans, cum_entry = _transition_tables()
    c = s["cust"].to_numpy()[rows]
    ch = s["channel"].to_numpy()[rows]
    t_idx = cust["type_idx"].to_numpy()[c]
    anon = s["kind"].to_numpy()[rows] == ANONYMOUS
    phase = _entry_phase(s, rows, cust, rng)
    error_rate = np.where(cust["trouble"].to_numpy(), PAYMENT_ERROR_RATE[1], PAYMENT_ERROR_RATE[0])
    error_rate = error_rate[c]
    anon_ok = np.zeros(N_TP + 1, dtype=bool)
    anon_ok[[TP[tp] for tp in ANONYMOUS_TOUCHPOINTS]] = True
    anon_ok[END] = True

    state = _sample_cumulative(cum_entry[t_idx, phase, ch], rng)
    alive = np.ones(len(rows), dtype=bool)
    steps = np.full((len(rows), MAX_SESSION_EVENTS), -1)
    for step in range(MAX_SESSION_EVENTS):
        steps[alive, step] = state[alive]
        nxt = _sample_cumulative(cum_trans[t_idx, ch, state], rng)
        # The planted pain point: some purchase attempts fail, more often for some customers.
        fail = (nxt == TP["purchase"]) & (state == TP["checkout"])
        nxt = np.where(fail & (rng.random(len(rows)) < error_rate), TP["payment_error"], nxt)
        nxt = np.where(anon & ~anon_ok[nxt], END, nxt)
        alive &= nxt != END
        if not alive.any():
            break
        state = np.where(alive, nxt, state)
    r, st = np.nonzero(steps >= 0)
    return rows[r], st, steps[r, st]
