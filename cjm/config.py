"""The YAML configuration: the top-level settings and their checks, the default stage and
conversion rules, and reading a config file (its sections are in cjm.config_sections)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from cjm.build.expressions import ExpressionError, check_expression
from cjm.config_errors import describe, yaml_problem
from cjm.config_sections import (
    CONTROL_CHARACTERS,
    ChurnSettings,
    EntityNoun,
    EventTimeWindow,
    KpiSettings,
    OutcomeSettings,
    PathSettings,
    PersonaSettings,
    ScheduleSettings,
    StrictSettings,
)

CANONICAL_COLUMNS = (
    "customer_id",
    "anonymous_id",
    "event_time",
    "touchpoint",
    "channel",
    "event_id",
    "revenue",
    "sentiment",
)
# Optional source columns read from the events' properties rather than landed as events columns:
# `columns: {resource: org:resource}` names the column holding the team or person behind an event
# (touchpoint_owners). Kept out of CANONICAL_COLUMNS so events and event ids stay as they are.
PROPERTY_COLUMNS = ("resource",)
# Segment types the transition graphs always have; `segments:` in the config adds more.
BUILT_IN_SEGMENTS = ("all", "persona", "first_channel", "converted", "churned")
EMOTION_MIN_EVENTS = 30
STAGES = ("awareness", "consideration", "purchase", "retention", "advocacy", "exit")
# The stages a journey progresses through, in order (rank 1, 2, ...): exit is an outcome, not
# progress. The SQL models read it as the variable cjm_funnel_stages
# (cjm.build.parameters.set_stage_order).
FUNNEL_STAGES = tuple(stage for stage in STAGES if stage != "exit")

# Used for touchpoints the config does not map: a touchpoint whose name contains one of these words
# gets that stage. Order matters: the first matching rule wins ("cancel" before "purchase").
DEFAULT_STAGE_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("unsubscrib", "exit"),
    ("cancel", "exit"),
    ("churn", "exit"),
    ("close_account", "exit"),
    ("refund", "retention"),
    ("review_post", "advocacy"),
    ("referral", "advocacy"),
    ("refer_", "advocacy"),
    ("share", "advocacy"),
    ("recommend", "advocacy"),
    ("rating", "advocacy"),
    ("reorder", "retention"),
    ("repeat", "retention"),
    ("renew", "retention"),
    ("loyalty", "retention"),
    ("support", "retention"),
    ("ticket", "retention"),
    ("complaint", "retention"),
    ("app_open", "retention"),
    ("login", "retention"),
    ("purchase", "purchase"),
    ("checkout", "purchase"),
    ("order", "purchase"),
    ("cart", "purchase"),
    ("payment", "purchase"),
    ("subscribe", "purchase"),
    ("buy", "purchase"),
    ("product", "consideration"),
    ("search", "consideration"),
    ("compare", "consideration"),
    ("review", "consideration"),
    ("coupon", "consideration"),
    ("pricing", "consideration"),
    ("demo", "consideration"),
    ("trial", "consideration"),
    ("signup", "consideration"),
    ("sign_up", "consideration"),
    ("ad_", "awareness"),
    ("impression", "awareness"),
    ("social", "awareness"),
    ("email", "awareness"),
    ("visit", "awareness"),
    ("landing", "awareness"),
    ("banner", "awareness"),
)

_IDENTIFIER = re.compile(r"^[^\x00-\x1f]{1,255}$")
_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(b|kb|mb|gb|tb|kib|mib|gib|tib)?\s*$", re.IGNORECASE)


def _check_canonical(mapping: dict[str, str], extra: tuple[str, ...] = ()) -> None:
    known = CANONICAL_COLUMNS + extra
    unknown = sorted(set(mapping) - set(known))
    if unknown:
        raise ValueError(f"unknown canonical column(s) {unknown}; expected some of {list(known)}")


class ConfigError(ValueError):
    """A configuration file that cannot be used, with a message saying what to fix."""


def _check_funnels(funnels: dict[str, tuple[str, ...]]) -> None:
    for name, steps in funnels.items():
        if not name.strip():
            raise ValueError("a funnel needs a non-empty name")
        if len(steps) < 2:
            raise ValueError(f"funnel {name!r}: needs at least two steps, got {list(steps)}")
        if any(not s.strip() for s in steps):
            raise ValueError(f"funnel {name!r}: step names must be non-empty")
        repeated = sorted({s for s in steps if steps.count(s) > 1})
        if repeated:
            raise ValueError(f"funnel {name!r}: step(s) {repeated} appear more than once")


class Config(StrictSettings):
    """A validated cjm configuration; every field has a default."""

    # canonical column -> source column name
    columns: dict[str, str] = Field(default_factory=dict)
    # canonical column -> SQL expression over source columns (checked by cjm.build.expressions)
    expressions: dict[str, str] = Field(default_factory=dict)
    timezone: str = "UTC"
    session_gap_minutes: Annotated[float, Field(gt=0, le=7 * 24 * 60)] = 30
    # touchpoint -> stage; merged over DEFAULT_STAGE_KEYWORDS
    stages: dict[str, Literal[STAGES]] = Field(default_factory=dict)  # type: ignore[valid-type]
    # Default: every touchpoint whose stage is "purchase"
    conversion_touchpoints: tuple[str, ...] | None = None
    # Map a rating scale onto sentiment in [-1, 1], e.g. [1, 5]
    sentiment_range: tuple[float, float] | None = None
    # The noun used in persona names, descriptions, insight texts and the report.
    entity: EntityNoun = EntityNoun()
    # Success and failure touchpoints: touchpoint roles are judged on them (cjm.journeys.roles);
    # without conversion_touchpoints, success touchpoints are the conversions; without a configured
    # stage, success touchpoints are in the purchase stage (the funnel reaches it), failure ones in
    # exit.
    outcomes: OutcomeSettings = OutcomeSettings()
    kpis: KpiSettings = KpiSettings()
    # Emotion-curve points averaging fewer rated events than this are drawn hollow in the report.
    emotion_min_events: Annotated[int, Field(ge=1, le=1_000_000)] = EMOTION_MIN_EVENTS
    event_time_window: EventTimeWindow = EventTimeWindow()
    churn: ChurnSettings = ChurnSettings()
    personas: PersonaSettings = PersonaSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    paths: PathSettings = PathSettings()
    # funnel name -> ordered touchpoints, e.g. {checkout: [product_view, cart, checkout, purchase]}
    funnels: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    # Extra transition-graph segments: customer or event attributes (columns or source columns)
    segments: tuple[str, ...] = ()
    # A CSV or Parquet file of one row per customer (id in the `columns.customer_id` column):
    # attributes for customer_attributes, persona_attributes and `customers.<column>` segments.
    customers: Path | None = None
    random_state: int = 0
    # A flow run still going after this many seconds fails (Prefect state TimedOut) and lets go of
    # the published file's lock and its deployment's concurrency slot, so a hung run cannot hold up
    # every later one; null: no limit. Past it by cjm.deadline's grace, the process is ended.
    flow_timeout_seconds: Annotated[float, Field(gt=0, le=7 * 24 * 3600)] | None = 4 * 3600
    duckdb_threads: Annotated[int, Field(ge=1, le=256)] | None = None
    duckdb_memory_limit: str | None = None
    # Where DuckDB spills what does not fit in duckdb_memory_limit (default: beside the database,
    # `<db>.tmp`); a disk with room for the largest intermediate result of the run.
    duckdb_temp_directory: Path | None = None
    # The DuckDB storage format the published file is written in: the oldest line DuckDB still
    # supports, so BI tools and drivers that lag behind DuckDB releases can open it ("latest" for
    # the running DuckDB's own format, which older readers refuse).
    duckdb_storage_version: str = "v1.4.0"
    # Partitioned execution (cjm.build.partition): buckets of customers, run by Prefect's task
    # runner.
    partitions: Annotated[int, Field(ge=1, le=4096)] = 1
    task_runner: Literal["local", "dask"] = "local"
    # tcp://host:8786 of a running Dask scheduler; none with task_runner dask: a local cluster
    dask_address: str | None = None
    # Where bucket files go; every Dask worker must be able to read and write it.
    partition_dir: Path | None = None

    @field_validator("columns")
    @classmethod
    def _known_columns(cls, v: dict[str, str]) -> dict[str, str]:
        _check_canonical(v, PROPERTY_COLUMNS)
        for key, name in v.items():
            if not _IDENTIFIER.match(name):
                raise ValueError(f"{key}: {name!r} is not a usable column name")
        return v

    @field_validator("expressions")
    @classmethod
    def _expressions(cls, v: dict[str, str]) -> dict[str, str]:
        _check_canonical(v)
        for key, expr in v.items():
            # One expression, never a statement: the text is trusted, but a stray ';' is a mistake.
            if not expr.strip() or ";" in expr or CONTROL_CHARACTERS.search(expr):
                raise ValueError(f"{key}: {expr!r} is not a single SQL expression")
            try:
                check_expression(expr)
            except ExpressionError as exc:
                raise ValueError(f"{key}: expression {expr!r} is refused: {exc}") from None
        return v

    @field_validator("funnels")
    @classmethod
    def _funnels(cls, v: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        _check_funnels(v)
        return v

    @property
    def is_partitioned(self) -> bool:
        """Whether full builds run the per-customer models in buckets (cjm.build.partition)."""
        return self.partitions > 1 or self.task_runner == "dask"

    @model_validator(mode="after")
    def _execution(self) -> Config:
        if self.dask_address is not None and self.task_runner != "dask":
            raise ValueError("dask_address is set but task_runner is not 'dask'")
        return self

    @field_validator("duckdb_memory_limit")
    @classmethod
    def _memory(cls, v: str | None) -> str | None:
        if v is not None and not _MEMORY.match(v):
            raise ValueError(f"{v!r} is not an amount of memory like '2GB' or '500MiB'")
        return v

    @field_validator("duckdb_storage_version")
    @classmethod
    def _storage_version(cls, v: str) -> str:
        import duckdb

        try:
            duckdb.connect(config={"storage_compatibility_version": v}).close()
        except duckdb.Error:
            raise ValueError(
                f"{v!r} is not a storage version this DuckDB knows (like 'v1.4.0' or 'latest')"
            ) from None
        return v

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown timezone {v!r} (use an IANA name like 'Europe/London')"
            ) from exc
        return v

    @field_validator("segments")
    @classmethod
    def _segments(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for name in v:
            if not _IDENTIFIER.match(name) or ":" in name or name != name.strip():
                raise ValueError(f"{name!r} is not a usable segment column name (no ':')")
            if name in BUILT_IN_SEGMENTS:
                raise ValueError(
                    f"{name!r} is a built-in segment; built in: {list(BUILT_IN_SEGMENTS)}"
                )
        repeated = sorted({n for n in v if v.count(n) > 1})
        if repeated:
            raise ValueError(f"{repeated} listed more than once")
        return v

    @field_validator("sentiment_range")
    @classmethod
    def _range(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not v[0] < v[1]:
            raise ValueError("sentiment_range must be [low, high] with low < high")
        return v

    @model_validator(mode="after")
    def _no_double_mapping(self) -> Config:
        both = sorted(set(self.columns) & set(self.expressions))
        if both:
            raise ValueError(f"{both} given both as a column and as an expression; keep one")
        return self

    def source_column(self, canonical: str) -> str:
        """The source column name that feeds a canonical column."""
        return self.columns.get(canonical, canonical)

    def stage_of(self, touchpoint: str) -> str | None:
        """The stage of a touchpoint: configured, else by outcome (failure: exit, success: purchase,
        the funnel's conversion stage), else by keyword, else None."""
        if touchpoint in self.stages:
            return self.stages[touchpoint]
        # The configured outcomes say more than a keyword in the name ("Resolve ticket")
        if touchpoint in self.outcomes.failure:
            return "exit"
        if touchpoint in self.outcomes.success:
            return "purchase"
        name = touchpoint.lower().replace(" ", "_").replace("-", "_")
        for keyword, stage in DEFAULT_STAGE_KEYWORDS:
            if keyword in name:
                return stage
        return None


_CONVERSION_WORDS = ("purchase", "order", "convert", "subscribe", "checkout_complete")
_NOT_CONVERSION_WORDS = ("cancel", "unsubscrib", "error", "fail", "abandon", "refund", "return")


def _default_conversion(touchpoint: str) -> bool:
    name = touchpoint.lower().replace(" ", "_")
    return any(w in name for w in _CONVERSION_WORDS) and not any(
        w in name for w in _NOT_CONVERSION_WORDS
    )


def is_conversion_touchpoint(config: Config, touchpoint: str) -> bool:
    """Whether a touchpoint counts as a conversion (events with revenue count regardless)."""
    if config.conversion_touchpoints is not None:
        return touchpoint in config.conversion_touchpoints
    if config.outcomes.success:
        return touchpoint in config.outcomes.success
    return _default_conversion(touchpoint)


def duckdb_settings(config: Config) -> dict:
    """The configured DuckDB threads, memory limit and temp directory, as connect() keywords."""
    return {
        "threads": config.duckdb_threads,
        "memory_limit": config.duckdb_memory_limit,
        "temp_directory": config.duckdb_temp_directory,
    }


def parse_config(data: dict | None, source: str = "<config>") -> Config:
    """Validate a config mapping, raising ConfigError that names the source and the field."""
    try:
        return Config.model_validate(data or {})
    except ValidationError as exc:
        # However many settings are wrong, the message stays within three lines.
        raise ConfigError(describe(source, exc.errors(), Config)) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping: plain YAML keeps the last,
    so a repeated `duckdb_memory_limit` would silently override the first."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(
                    f"{self.name}: line {line}: key {key!r} is given twice in one mapping "
                    f"(first on line {seen[key]}); keep one"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_config(path: Path | None) -> Config:
    """Read and validate a YAML config file; None gives the defaults."""
    if path is None:
        return Config()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    loader = _UniqueKeyLoader(text)
    loader.name = str(path)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {yaml_problem(exc, text)}") from None
    finally:
        loader.dispose()
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return parse_config(data, str(path))


def with_execution(config: Config, source: str = "command line", **overrides: object) -> Config:
    """The config with execution settings from the command line (None keeps the config's)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    if not given:
        return config
    return parse_config({**config.model_dump(mode="json", exclude_unset=True), **given}, source)
