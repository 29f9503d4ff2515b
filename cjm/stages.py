"""The analytic stages of a run, in order, and the function each one runs: STAGES is the one list
the flow, tests/published.py and the pipeline benchmark iterate, so none of them can run a stage
the others leave out.

A run is: plan the load, load the event files, build the SQL models (cjm.steps), then every stage
of STAGES in order, then the guard rails, `steps.finish_run` and publish. Loading and the SQL models
stay outside STAGES: the flow plans and partitions them, and they return files and per-model
seconds rather than a stage summary.

Each stage function works on the build file by path and returns its summary (counts, notes). The
graph stages live with the graphs (cjm.graphs.stages). No Prefect here: the flow (cjm.flows) makes
one task of each stage.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from cjm import churn
from cjm.build import customers
from cjm.churn import patterns
from cjm.config import Config
from cjm.db import write_table
from cjm.graphs import stages as graph_stages
from cjm.journeys import insights, kpis, paths
from cjm.personas import fitting as personas
from cjm.personas import identity as persona_identity
from cjm.personas import insights as persona_insights
from cjm.personas import openings
from cjm.personas.features import write_customer_features
from cjm.steps import Progress, open_build


@dataclass(frozen=True)
class Stage:
    """One analytic stage: its name (in pipeline_runs.stage_seconds) and its function."""

    name: str
    step: Callable[..., dict | None]
    # The step also reads the published file (`db_path`) and stamps its rows with `run_id`:
    # history carried across runs (persona ids, transition changes).
    reads_published: bool = False

    def run(
        self,
        build_path: Path,
        config: Config,
        db_path: Path | None = None,
        run_id: str | None = None,
        progress: Progress = None,
    ) -> dict:
        """Run the step on the build; return its summary (counts, notes), empty when it has none."""
        if self.reads_published:
            summary = self.step(
                build_path, config, progress=progress, db_path=db_path, run_id=run_id
            )
        else:
            summary = self.step(build_path, config, progress=progress)
        return summary or {}


def build_personas(
    build_path: Path,
    config: Config,
    progress: Progress = None,
    db_path: Path | None = None,
    run_id: str | None = None,
) -> dict:
    """Compute customer features and churn state, then cluster customers into personas.

    With the published `db_path` and this `run_id`, persona ids follow the previous run's and
    persona_centroids, persona_history and persona_migrations are written.
    """
    previous = persona_identity.read_previous_personas(db_path) if db_path else None
    with open_build(build_path, config) as con:
        if progress:
            progress("computing customer features and churn state")
        definition = churn.resolve_churn_definition(
            con, config.churn, failure_outcomes=config.outcomes.failure
        )
        n_customers = churn.write_churn_state(con, definition, "customer_churn_state")
        # Features and assignments stay in DuckDB: at millions of customers only the fit sample
        # and one batch of customers at a time are in memory.
        query = write_customer_features(con, "customer_features", timezone=config.timezone)
        if progress:
            progress(f"clustering {n_customers:,} customers into personas")
        result = personas.fit_personas_table(
            con,
            "customer_features",
            config.personas,
            config.random_state,
            churn_table="customer_churn_state",
            previous=previous,
            labels=query.labels,
            entity=config.entity,
        )
        write_table(con, "personas", openings.add_top_paths(con, result.personas))
        write_table(
            con,
            "persona_centroids",
            result.centroids.assign(run_id=run_id).astype({"run_id": "string"}),
        )
        if run_id is not None:
            persona_identity.write_persona_history(con, db_path, run_id, "customer_personas")
            write_table(
                con,
                "persona_migrations",
                persona_identity.migrations(previous, "customer_personas", run_id, con),
            )
        notes = [definition.note] + ([result.k_note] if result.k_note else [])
        return {"counts": {"personas": len(result.personas)}, "notes": notes}


def build_customer_attributes(build_path: Path, config: Config, progress: Progress = None) -> dict:
    """Load the customers file (config `customers`), reconcile it and profile personas by it."""
    if config.customers is None:
        return {}
    with open_build(build_path, config) as con:
        if progress:
            progress(f"loading customer attributes from {config.customers}")
        return customers.build_customer_tables(
            con, config.customers, config.source_column("customer_id")
        )


def build_persona_insights(build_path: Path, config: Config, progress: Progress = None) -> dict:
    """Per-persona journey map: touchpoint reach, lifts, sentiment and role within each persona."""
    with open_build(build_path, config) as con:
        if progress:
            progress("computing touchpoint insights per persona")
        frame = persona_insights.persona_touchpoint_insights(
            con, outcomes=config.outcomes, entity=config.entity
        )
        write_table(con, "persona_touchpoint_insights", frame)
        return {"counts": {"persona_touchpoints": len(frame)}}


def build_insights(build_path: Path, config: Config, progress: Progress = None) -> dict:
    """Reach, lifts, sentiment, removal effect and role of every touchpoint."""
    with open_build(build_path, config) as con:
        if progress:
            progress("computing touchpoint insights (absorbing Markov chain)")
        frame = insights.touchpoint_insights(
            con, "customer_churn_state", outcomes=config.outcomes, entity=config.entity
        )
        write_table(con, "touchpoint_insights", frame)
        roles = frame["role"].value_counts().to_dict() if len(frame) else {}
        note = insights.roles_note(frame)
        return {"counts": {"touchpoints": len(frame)}, "roles": roles, "notes": [note] * bool(note)}


def build_paths(build_path: Path, config: Config, progress: Progress = None) -> dict:
    """Path variants, anchored and between paths, the stage funnel and configured funnels; then
    the marts that also read personas, churn state and roles: KPIs over time, touchpoint owners."""
    with open_build(build_path, config) as con:
        if progress:
            progress("building path variants, anchored paths and funnels")
        counts = paths.build_path_tables(con, config)
        if progress:
            progress("building KPIs over time and touchpoint owners")
        counts |= kpis.build_kpi_tables(con, config)
        note = paths.funnel_note(con)
        return {"counts": counts, "notes": [note] * bool(note)}


def score_churn(build_path: Path, config: Config, progress: Progress = None) -> dict:
    """Find churn patterns, train the churn model on the log's history, score active customers."""
    with open_build(build_path, config) as con:
        definition = churn.resolve_churn_definition(
            con, config.churn, failure_outcomes=config.outcomes.failure
        )
        if progress:
            progress("finding churn patterns")
        found = patterns.churn_patterns(
            con, "customer_churn_state", retained_until=_retained_until(con, definition)
        )
        write_table(con, "churn_patterns", found)
        result = _score_identified(con, config, definition, found, progress)
        write_table(con, "churn_model_metrics", result.metrics)
        write_table(con, "churn_model_calibration", result.calibration)
        write_table(con, "churn_model_card", _card_frame(result.model_card))
        return _churn_summary(con, result.model_card)


def _score_identified(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    definition: churn.ChurnDefinition,
    found: pd.DataFrame,
    progress: Progress,
) -> churn.ChurnResult:
    """Train the churn model and write churn_risk for the identified customers, each batch citing
    the churn patterns its customers followed."""
    # Visitors who never identified themselves cannot be contacted: not on the list.
    identified = "_cjm_identified_customers"
    con.execute(
        f"create or replace temp table {identified} as "
        "select customer_id from journeys where not is_anonymous"
    )
    # Pattern lookups need a connection of their own: the scoring batches stream on con.
    lookup = con.cursor()

    def cite_patterns(batch: pd.DataFrame) -> pd.DataFrame:
        if batch.empty or found.empty:
            return batch
        scored_at = batch["scored_at"].iloc[0].to_pydatetime()
        matches = patterns.customer_patterns(lookup, batch["customer_id"], found, scored_at)
        return churn.add_pattern_reasons(batch, matches)

    if progress:
        progress("training and scoring the churn model")
    output = churn.ScoringOutput(
        personas="customer_personas",
        customers=identified,
        on_batch=cite_patterns,
        risk_table="churn_risk",
        entity=config.entity.singular,
    )
    try:
        return churn.score_churn(
            con,
            config.churn,
            config.random_state,
            timezone=config.timezone,
            output=output,
            definition=definition,
        )
    finally:
        lookup.close()
        con.execute(f"drop table if exists {identified}")


def _churn_summary(con: duckdb.DuckDBPyConnection, card: dict) -> dict:
    """Customers scored and flagged; the list's cautions, which reach the run summary and
    pipeline_runs.notes, not only the card."""
    scored, flagged = con.execute(
        "select count(*), count(*) filter (where risk_tier = 'high') from churn_risk"
    ).fetchone()
    notes = [f"churn list: {w}" for w in card.get("warnings") or []]
    if card.get("status") == "not_trained":
        notes.append(f"churn list empty: {card.get('reason') or 'see churn_model_card'}")
    return {
        "counts": {"customers_scored": int(scored), "flagged": int(flagged)},
        "notes": notes,
    }


def _retained_until(con, definition: churn.ChurnDefinition) -> datetime | None:
    """Customers still active are compared up to the log end minus the inactivity threshold."""
    end = con.execute("select max(event_time) from events").fetchall()[0][0]
    if end is None:
        return None
    return end - timedelta(days=definition.inactivity_days)


def _card_frame(card: dict) -> pd.DataFrame:
    """The model card as rows of (item, JSON value), queryable with SQL."""
    return pd.DataFrame(
        {"item": list(card), "value": [json.dumps(v, default=str) for v in card.values()]},
        dtype="string",
    )


STAGES: tuple[Stage, ...] = (
    Stage("build_personas", build_personas, reads_published=True),
    Stage("build_customer_attributes", build_customer_attributes),
    Stage("build_persona_insights", build_persona_insights),
    Stage("build_insights", build_insights),
    Stage("build_paths", build_paths),
    Stage("score_churn", score_churn),
    Stage("build_graphs", graph_stages.build_graphs),
    Stage("track_transition_changes", graph_stages.track_transition_changes, reads_published=True),
)


def stage_names() -> list[str]:
    """The names of STAGES, in run order."""
    return [stage.name for stage in STAGES]
