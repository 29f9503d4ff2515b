"""The public entry point: simulate the log, then write its files, config and truth."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from cjm.sample.messy import broken_rows, duplicate_rows, rejected
from cjm.sample.rows import clean_rows, partial_order
from cjm.sample.simulate import simulate_events
from cjm.sample.truth import write_truth
from cjm.sample.window import SAMPLE_TIMEZONE
from cjm.sample.writers import (
    EVENT_FILES,
    FILE_SHARES,
    PARQUET_FILE,
    write_event_file,
    write_lines,
)


@dataclass(frozen=True)
class SampleSummary:
    """What generate_sample wrote."""

    out_dir: Path
    files: list[Path]  # the event files written
    customers: int
    events: int  # clean events written (before messy rows were added)
    messy_rows: dict[str, dict[str, int]]  # per file name: {"duplicate": n, "rejected": n}
    log_start: datetime  # UTC
    log_end: datetime  # UTC, last day of the log


def generate_sample(
    out_dir: Path,
    customers: int = 1000,
    seed: int = 7,
    days: int = 90,
    horizon_days: int = 60,
    messy: bool = True,
) -> SampleSummary:
    """Write a synthetic event log (three files), its config and its ground truth to out_dir."""
    out_dir = Path(out_dir)
    log = simulate_events(customers, seed, days, horizon_days)
    rng = np.random.default_rng([seed, 1])
    events = log.events
    file_idx = rng.choice(len(EVENT_FILES), size=len(events), p=FILE_SHARES)
    used_ids = set(events["event_id"])

    (out_dir / "events").mkdir(parents=True, exist_ok=True)
    (out_dir / "truth").mkdir(parents=True, exist_ok=True)
    files, planted = [], {}
    for i, name in enumerate(EVENT_FILES):
        rows, kinds = _file_rows(events, file_idx, i, messy, used_ids, rng)
        path = out_dir / "events" / name
        write_event_file(rows, path)
        files.append(path)
        planted[name] = kinds
    messy_rows = {
        name: {"duplicate": k.get("duplicate", 0), "rejected": rejected(k)}
        for name, k in planted.items()
    }
    _write_config(out_dir / "cjm.yaml")
    write_truth(out_dir / "truth", log, seed, planted, np.bincount(file_idx, minlength=3))
    return SampleSummary(
        out_dir=out_dir,
        files=files,
        customers=customers,
        events=len(events),
        messy_rows=messy_rows,
        log_start=log.log_start,
        log_end=log.log_end,
    )


def _file_rows(
    events: pd.DataFrame,
    file_idx: np.ndarray,
    i: int,
    messy: bool,
    used_ids: set[str],
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Rows of one file in written order (clean, duplicated and broken), and the planted counts."""
    name = EVENT_FILES[i]
    text = name != PARQUET_FILE
    own = events[file_idx == i]
    rows = clean_rows(own, text, rng)
    rows["_key"] = partial_order(len(own), rng)
    if not messy or len(own) == 0:
        return rows.sort_values("_key", kind="stable").reset_index(drop=True), {}

    duplicates = duplicate_rows(rows, events[file_idx < i], text, rng)
    broken = broken_rows(name, rows, used_ids, rng)
    kinds = {"duplicate": sum(len(d) for d in duplicates)}
    kinds.update({kind: len(bad) for kind, bad in broken.items()})
    out = pd.concat([rows, *duplicates, *broken.values()], ignore_index=True)
    return out.sort_values("_key", kind="stable").reset_index(drop=True), kinds


def _write_config(path: Path) -> None:
    """The sample's cjm.yaml: its timezone, and the paths and funnel worth looking at."""
    write_lines(
        path,
        [
            "# Configuration of the sample log; every other setting keeps its default.",
            f"timezone: {SAMPLE_TIMEZONE}",
            "# Paths from a first look at a product to the next purchase, and the checkout funnel.",
            "paths:",
            "  between: [[product_view, purchase]]",
            "funnels:",
            "  checkout: [product_view, add_to_cart, checkout, purchase]",
        ],
    )
