"""Pipeline steps that work on the build database by path: the nodes the Prefect flow wires."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from cjm import churn, insights, patterns, personas
from cjm.config import Config
from cjm.db import connect, write_table
from cjm.features import customer_features
from cjm.ingest import FileLoad, load_files
from cjm.models import build_models, drop_build_tables, write_file_reads
from cjm.runs import (
    RunRecord,
    add_counts,
    add_file_loads,
    read_previous_runs,
    write_pipeline_runs,
)

Progress = Callable[[str], None] | None


class ReconciliationError(RuntimeError):
    """Rows read do not add up to accepted + duplicate + rejected: never publish that."""


def _open(build_path: Path, config: Config):
    return connect(
        build_path, threads=config.duckdb_threads, memory_limit=config.duckdb_memory_limit
    )


def load_events(
    build_path: Path, files: list[Path], config: Config, progress: Progress = None
) -> list[FileLoad]:
    """Land every input file in the build database."""
    with _open(build_path, config) as con:
        loads = load_files(con, files, config, progress)
        write_file_reads(con, loads)
        return loads


def build_journeys(build_path: Path, config: Config, progress: Progress = None) -> dict:
    """Run the SQL models: events, sessions, journeys, transitions and the reconciliation."""
    with _open(build_path, config) as con:
        timings = build_models(con, config, progress=progress)
        broken = con.execute(
            "select source_file, rows_read, rows_accepted, rows_duplicate, rows_rejected "
            "from file_loads where not is_reconciled"
        ).fetchall()
        if broken:
            raise ReconciliationError(f"row counts do not reconcile for {broken}")
        return timings


def build_personas(build_path: Path, config: Config, progress: Progress = None) -> dict:
    """Compute customer features and churn state, then cluster customers into personas."""
    with _open(build_path, config) as con:
        if progress:
            progress("computing customer features and churn state")
        definition = churn.resolve_churn_definition(con, config.churn)
        state = churn.customer_churn_state(con, definition)
        write_table(con, "customer_churn_state", state)
        features = customer_features(con, timezone=config.timezone)
        write_table(con, "customer_features", features)
        if progress:
            progress(f"clustering {len(features):,} customers into personas")
        result = personas.fit_personas(
            features,
            config.personas,
            config.random_state,
            churned=state.set_index("customer_id")["is_churned"],
        )
        write_table(con, "personas", result.personas)
        write_table(con, "customer_personas", result.customer_personas)
        notes = [definition.note] + ([result.k_note] if result.k_note else [])
        return {"counts": {"personas": len(result.personas)}, "notes": notes}


def build_insights(build_path: Path, config: Config, progress: Progress = None) -> dict:
    """Reach, lifts, sentiment, removal effect and role of every touchpoint."""
    with _open(build_path, config) as con:
        if progress:
            progress("computing touchpoint insights (absorbing Markov chain)")
        state = con.execute("select customer_id, is_churned from customer_churn_state").df()
        frame = insights.touchpoint_insights(con, state)
        write_table(con, "touchpoint_insights", frame)
        roles = frame["role"].value_counts().to_dict() if len(frame) else {}
        return {"counts": {"touchpoints": len(frame)}, "roles": roles}


def score_churn(build_path: Path, config: Config, progress: Progress = None) -> dict:
    """Train the churn model on the log's history, score active customers, find patterns."""
    with _open(build_path, config) as con:
        if progress:
            progress("training and scoring the churn model")
        assignments = con.execute("select * from customer_personas").df()
        result = churn.score_churn(
            con,
            config.churn,
            config.random_state,
            customer_personas=assignments,
            timezone=config.timezone,
        )
        # Visitors who never identified themselves cannot be contacted: not on the list.
        known = {
            r[0]
            for r in con.execute(
                "select customer_id from journeys where not is_anonymous"
            ).fetchall()
        }
        risk = result.churn_risk[result.churn_risk["customer_id"].isin(known)]
        write_table(con, "churn_risk", risk.reset_index(drop=True))
        write_table(con, "churn_model_metrics", result.metrics)
        write_table(con, "churn_model_card", _card_frame(result.model_card))
        if progress:
            progress("finding churn patterns")
        state = con.execute("select * from customer_churn_state").df()
        found = patterns.churn_patterns(con, state)
        write_table(con, "churn_patterns", found)
        flagged = int((risk["risk_tier"] == "high").sum()) if len(risk) else 0
        notes = (
            []
            if result.pipeline is not None
            else [
                "churn model not trained: "
                + str(result.model_card.get("reason", "see churn_model_card"))
            ]
        )
        return {
            "counts": {"customers_scored": len(risk), "flagged": flagged},
            "notes": notes,
        }


def _card_frame(card: dict) -> pd.DataFrame:
    """The model card as rows of (item, JSON value), queryable with SQL."""
    return pd.DataFrame(
        {"item": list(card), "value": [json.dumps(v, default=str) for v in card.values()]},
        dtype="string",
    )


def finish_run(build_path: Path, record: RunRecord, db_path: Path) -> RunRecord:
    """Drop build-only tables and write pipeline_runs with the history of the published file."""
    with connect(build_path) as con:
        started = time.perf_counter()
        drop_build_tables(con)
        add_file_loads(record, con)
        add_counts(record, con)
        record.status = "success"
        record.finished_at = datetime.now(UTC)
        record.stage_seconds["finish"] = round(time.perf_counter() - started, 3)
        write_pipeline_runs(con, record, read_previous_runs(db_path))
        return record


def report_path_for(db_path: Path) -> Path:
    """Where a run writes the journey map: beside the published file, `<stem>_report.html`."""
    return db_path.with_name(f"{db_path.stem}_report.html")


def write_report(db_path: Path) -> Path:
    """Write the journey map of the published database beside it (read-only on the database)."""
    from cjm.report import write_report as write_journey_map  # plotly loads only when needed

    return write_journey_map(db_path, report_path_for(db_path))
