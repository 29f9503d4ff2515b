"""The clean rows of an event file: written columns, time formats and a partly shuffled order."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cjm.sample.window import SAMPLE_TIMEZONE
from cjm.sample.writers import OUT_COLUMNS

# event_time representations in the text files: share of each
TIME_FORMATS = {"utc_z": 0.35, "offset": 0.2, "naive_local": 0.25, "epoch_s": 0.1, "epoch_ms": 0.1}
OFFSET_MINUTES = (120, 60, -300, 540, 330, -480, 600)
SHUFFLED_SHARE = 0.1  # rows moved to a random place in their file


def clean_rows(frame: pd.DataFrame, text: bool, rng: np.random.Generator) -> pd.DataFrame:
    """The written columns as Python objects (None for missing); times formatted for text files."""
    data = {}
    for col in OUT_COLUMNS:
        if col == "event_time":
            times = frame["time_s"].to_numpy()
            values = _format_times(times, rng) if text else times.tolist()
        else:
            values = frame[col].to_numpy(dtype=object, copy=True)
            values[frame[col].isna().to_numpy()] = None
            values = values.tolist()
        data[col] = pd.Series(values, dtype=object)
    data["_raw"] = pd.Series([None] * len(frame), dtype=object)
    return pd.DataFrame(data)


def partial_order(n: int, rng: np.random.Generator) -> np.ndarray:
    """Row positions: time order, except a share of rows moved anywhere in the file."""
    noisy = np.arange(n, dtype=float)
    moved = rng.random(n) < SHUFFLED_SHARE
    noisy[moved] = rng.random(moved.sum()) * n
    position = np.empty(n, dtype=float)
    position[np.argsort(noisy, kind="stable")] = np.arange(n)
    return position


def _format_times(seconds: np.ndarray, rng: np.random.Generator) -> list[str | int]:
    """Each instant in one of the accepted representations, chosen at random."""
    n = len(seconds)
    code = rng.choice(len(TIME_FORMATS), size=n, p=list(TIME_FORMATS.values()))
    utc = seconds.astype("datetime64[s]")
    out = np.empty(n, dtype=object)

    naive = np.flatnonzero(code == 2)
    local = pd.DatetimeIndex(utc[naive]).tz_localize("UTC").tz_convert(SAMPLE_TIMEZONE)
    wall = local.tz_localize(None)
    # A wall-clock time in the autumn repeated hour names two instants: write those in UTC.
    back = wall.tz_localize(SAMPLE_TIMEZONE, ambiguous="NaT", nonexistent="NaT")
    ambiguous = np.asarray(back.isna())
    code[naive[ambiguous]] = 0
    naive = naive[~ambiguous]
    wall_s = wall.to_numpy()[~ambiguous].astype("datetime64[s]")
    out[naive] = [text.replace("T", " ") for text in np.datetime_as_string(wall_s)]

    z = code == 0
    out[z] = [text + "Z" for text in np.datetime_as_string(utc[z])]
    off = np.flatnonzero(code == 1)
    minutes = rng.choice(OFFSET_MINUTES, size=len(off))
    shifted = utc[off] + (minutes * 60).astype("timedelta64[s]")
    out[off] = [
        text + _offset_text(m)
        for text, m in zip(np.datetime_as_string(shifted), minutes.tolist(), strict=True)
    ]
    out[code == 3] = seconds[code == 3].tolist()
    out[code == 4] = (seconds[code == 4] * 1000).tolist()
    return [v if isinstance(v, int) else str(v) for v in out]


def _offset_text(minutes: int) -> str:
    """A UTC offset as ISO 8601 writes it: +02:00, -05:00."""
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
