"""Vectorised helpers of the simulation."""

from __future__ import annotations

import numpy as np


def unique_hex(rng: np.random.Generator, n: int, digits: int) -> np.ndarray:
    """Distinct random hex strings of `digits` digits."""
    values = rng.choice(16**digits, size=n, replace=False)
    return np.array([f"{v:0{digits}x}" for v in values])


def group_cumsum(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at each new value of the (sorted) groups."""
    total = np.cumsum(values)
    starts = np.r_[True, groups[1:] != groups[:-1]]
    base = np.maximum.accumulate(np.where(starts, np.arange(len(values)), 0))
    return total - total[base] + values[base]
