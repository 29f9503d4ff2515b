"""The time window of the simulated log: its days, the horizon after it, its timezone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

SAMPLE_TIMEZONE = "Europe/Amsterdam"
# Fixed (not seed dependent) so a seed always gives the same bytes; with the default 90 days the
# log crosses the March daylight-saving change of SAMPLE_TIMEZONE.
LOG_END = date(2026, 4, 30)
DAY_S = 86_400


@dataclass(frozen=True)
class Window:
    """The days of the log, from `start`, and the days simulated after it."""

    start: date
    days: int
    horizon_days: int

    @property
    def start_s(self) -> int:
        """First second of the log."""
        return _epoch(self.start)

    @property
    def end_s(self) -> int:
        """First second after the log."""
        return self.start_s + self.days * DAY_S


def _epoch(d: date) -> int:
    """Epoch seconds of midnight UTC starting a day."""
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())
