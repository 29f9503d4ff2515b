"""The sections of the YAML configuration (churn, personas, paths, outcomes, ...): one pydantic
model each, with its defaults and checks; `cjm.config.Config` holds one of each."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

KPI_PERIODS = ("week", "month")
# Control characters other than tab and newlines: never part of a name or an expression.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class StrictSettings(BaseModel):
    """A settings mapping that refuses unknown keys and cannot change once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ChurnSettings(StrictSettings):
    """How churn is defined and predicted."""

    # Days without any event after which a customer counts as churned; "auto" derives it from
    # customers' usual gaps between sessions.
    inactivity_days: int | Literal["auto"] = "auto"
    # Touchpoints that mean the customer has left. Not set (null): the failure outcomes are the
    # exits; [] says no touchpoint is leaving, whatever the outcomes (churn is inactivity alone).
    exit_touchpoints: tuple[str, ...] | None = None
    # Risk scores are the chance of churning within this many days.
    horizon_days: Annotated[int, Field(ge=1, le=3650)] = 30
    training_cutoffs: Annotated[int, Field(ge=1, le=52)] = 8
    # Fit time grows with rows while ranking quality levels off long before (the learning curve in
    # benchmarks/churn_learning_curve.py): the model trains on at most this many (customer,
    # cutoff) rows, from a random sample of customers (fixed by random_state) when the log has more.
    max_train_rows: Annotated[int, Field(ge=100)] = 50_000
    # The BG/NBD feature and baseline are fitted on at most this many customers per cutoff (then
    # applied to everyone): four parameters need far fewer.
    bgnbd_fit_customers: Annotated[int, Field(ge=100)] = 50_000
    # Active customers are scored this many at a time, so memory holds one batch of features.
    # One scoring query per batch: DuckDB's aggregates grow with its customers (about 1 GB per
    # 77,000 live customers of 26 events), and each batch re-reads the events.
    score_batch_customers: Annotated[int, Field(ge=100)] = 50_000
    # Reasons (a what-if prediction per candidate behaviour) are computed for at most about this
    # many customers, the riskiest; the others' reasons say they were not computed. null: all.
    max_reason_customers: Annotated[int, Field(ge=100)] | None = 250_000

    @field_validator("inactivity_days")
    @classmethod
    def _positive(cls, v: int | str) -> int | str:
        if isinstance(v, int) and not 1 <= v <= 3650:
            raise ValueError("must be between 1 and 3650 days, or 'auto'")
        return v


class PersonaSettings(StrictSettings):
    """How customers are clustered into personas."""

    k: int | Literal["auto"] = "auto"
    k_min: Annotated[int, Field(ge=2, le=50)] = 2
    k_max: Annotated[int, Field(ge=2, le=50)] = 8
    # Fit on at most this many customers, then assign everyone: keeps fitting time bounded.
    fit_sample_size: Annotated[int, Field(ge=100)] = 50_000

    @model_validator(mode="after")
    def _range(self) -> PersonaSettings:
        if self.k_min > self.k_max:
            raise ValueError("k_min must not exceed k_max")
        if isinstance(self.k, int) and not 1 <= self.k <= 50:
            raise ValueError("k must be between 1 and 50, or 'auto'")
        return self


class EntityNoun(StrictSettings):
    """What the log calls the people or things whose journeys it holds (a case, a household)."""

    singular: str = "customer"
    plural: str = "customers"

    @field_validator("singular", "plural")
    @classmethod
    def _word(cls, v: str) -> str:
        v = v.strip()
        # It is written into HTML and chart hover templates: no markup or template characters.
        if not v or len(v) > 40 or CONTROL_CHARACTERS.search(v) or set(v) & set('<>&%{}"'):
            raise ValueError(
                f'{v!r} is not a usable noun (1 to 40 printable characters, none of <>&%{{}}")'
            )
        return v


class OutcomeSettings(StrictSettings):
    """Touchpoints that mark how a journey ended: a loan activated, an incident reopened."""

    success: tuple[str, ...] = ()
    failure: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _names(self) -> OutcomeSettings:
        if any(not t.strip() for t in self.success + self.failure):
            raise ValueError("outcome touchpoints must be non-empty names")
        both = sorted(set(self.success) & set(self.failure))
        if both:
            raise ValueError(f"{both} listed as both success and failure")
        return self

    @property
    def given(self) -> bool:
        """Whether any outcome touchpoint is configured."""
        return bool(self.success or self.failure)


class KpiSettings(StrictSettings):
    """How kpi_timeseries cuts time."""

    # Weeks by default: a log of a few months (a process log, a quarter of tickets) gives a dozen
    # or more points and the latest change is a week old; months suit logs of several years.
    period: Literal[KPI_PERIODS] = "week"  # type: ignore[valid-type]


class ScheduleSettings(StrictSettings):
    """When `cjm serve` runs the pipeline."""

    cron: str = "0 3 * * *"
    events: str | None = None


class EventTimeWindow(StrictSettings):
    """Event times outside this window are rejected (`event_time_out_of_range`)."""

    # A date or a time; a time without an offset is UTC.
    not_before: datetime = datetime(1990, 1, 1, tzinfo=UTC)
    # How far past the run's clock an event may be: clocks of sources drift, years do not.
    days_after_clock: Annotated[float, Field(ge=0, le=36_500)] = 1

    @field_validator("not_before", mode="before")
    @classmethod
    def _as_time(cls, v: object) -> object:
        if isinstance(v, date) and not isinstance(v, datetime):
            return datetime.combine(v, time(), tzinfo=UTC)
        return v

    @field_validator("not_before")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


class PathSettings(StrictSettings):
    """Which paths path_variants, anchored_paths and between_paths report."""

    # Journeys are compared by their first this-many steps, so long unique journeys still group.
    prefix_steps: Annotated[int, Field(ge=1, le=50)] = 5
    # path_variants keeps this many variants per kind; the rest is one '(other)' row.
    top_variants: Annotated[int, Field(ge=1, le=10_000)] = 20
    # Touchpoints to look around; None: conversion touchpoints, pain points, points of delight.
    anchors: tuple[str, ...] | None = None
    # Pairs [from, to]: the sub-paths from the first `from` to the next `to`.
    between: tuple[tuple[str, str], ...] = ()
    steps_around: Annotated[int, Field(ge=1, le=20)] = 3

    @field_validator("anchors")
    @classmethod
    def _anchors(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is not None and any(not t.strip() for t in v):
            raise ValueError("anchors must be non-empty touchpoint names")
        return v

    @field_validator("between")
    @classmethod
    def _pairs(cls, v: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        for pair in v:
            if any(not t.strip() for t in pair):
                raise ValueError(f"between {list(pair)}: touchpoint names must be non-empty")
        return v
