"""Pipeline steps that work on the build database by path: the nodes the Prefect flow wires."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from cjm import (
    catalog,
    churn,
    customers,
    guard_rails,
    incremental,
    insights,
    kpis,
    manifest,
    partition,
    paths,
    persona_identity,
    persona_insights,
    personas,
)
from cjm.churn import patterns
from cjm.config import Config, duckdb_settings
from cjm.db import connect, copy_database, write_table
from cjm.features import write_customer_features
from cjm.graphs import changes, segments
from cjm.graphs.metrics import touchpoint_graph_metrics
from cjm.ingest import FileLoad, load_files
from cjm.models import (
    build_models,
    drop_build_tables,
    run_model,
    write_file_reads,
    write_run_clock,
)
from cjm.observe import run_summary_markdown, run_warnings, top_churn_risks
from cjm.publish import discard
from cjm.query import read_churn_card
from cjm.runs import (
    RunRecord,
    add_counts,
    add_file_loads,
    append_run_log,
    read_failed_runs,
    read_previous_runs,
    write_pipeline_runs,
)

Progress = Callable[[str], None] | None


class ReconciliationError(RuntimeError):
    """Rows read do not add up to accepted + duplicate + rejected: never publish that."""


class KeyViolationError(RuntimeError):
    """A table to publish has duplicated or NULL values of its declared key: never publish that."""


def _open(build_path: Path, config: Config):
    # The first step to open the build creates it, in the configured storage format.
    return connect(
        build_path, storage_version=config.duckdb_storage_version, **duckdb_settings(config)
    )


def plan_load(
    db_path: Path, files: list[Path], config: Config, full_refresh: bool, run_id: str
) -> manifest.LoadPlan:
    """Decide what this run loads: all files, only new ones, or nothing (see cjm.manifest)."""
    plan = manifest.plan_load(db_path, files, config, full_refresh=full_refresh, run_id=run_id)
    if plan.mode == "unchanged" and config.customers is not None:
        # Nothing is rebuilt, so the customers file is not read again: say so, not silently.
        plan.notes.append(
            f"no new events: customer attributes are the published ones; {config.customers} is "
            "read again on the next run with new events, or with --full-refresh"
        )
    return plan


def reuse_published(build_path: Path, db_path: Path, config: Config) -> None:
    """Start the build as a copy of the published file (a run with nothing new to load), in the
    configured storage format."""
    discard(build_path)
    copy_database(db_path, build_path, config.duckdb_storage_version)


def load_events(
    build_path: Path,
    files: list[Path],
    config: Config,
    progress: Progress = None,
    plan: manifest.LoadPlan | None = None,
    clock: datetime | None = None,
) -> list[FileLoad]:
    """Land the files of the plan (default: all `files`) and record them in loaded_files.

    `clock` (default: now) is the run's clock, which bounds the event times accepted.
    """
    plan = plan or manifest.full_plan(files, config)
    if plan.mode == "incremental":
        if progress:
            progress(f"seeding the build from {plan.db_path}")
        incremental.seed_build(Path(plan.db_path), build_path, config.duckdb_storage_version)
    with _open(build_path, config) as con:
        skipped = [Path(path) for path, _reason in plan.skipped]
        loads = load_files(con, [*plan.files, *skipped], config, progress)
        write_file_reads(con, loads)
        write_run_clock(con, clock or datetime.now(UTC))
        manifest.write_manifest(con, plan, loads)
        return loads


def build_journeys(build_path: Path, config: Config, progress: Progress = None) -> dict:
    """Run the SQL models: events, sessions, journeys, transitions and the reconciliation."""
    with _open(build_path, config) as con:
        hooks = incremental.merge_hooks() if incremental.is_seeded(con) else None
        timings = build_models(con, config, progress=progress, hooks=hooks)
        _check_reconciled(con)
        return timings


def _check_reconciled(con) -> None:
    broken = con.execute(
        "select source_file, rows_read, rows_accepted, rows_duplicate, rows_rejected "
        "from file_loads where not is_reconciled"
    ).fetchall()
    if broken:
        raise ReconciliationError(f"row counts do not reconcile for {broken}")


def export_partitions(
    build_path: Path, config: Config, part_dir: Path, progress: Progress = None
) -> list[int]:
    """De-duplicate and stitch the landed events, then write them to bucket files by customer."""
    with _open(build_path, config) as con:
        if progress:
            progress(f"loading, then splitting customers into {config.partitions} buckets")
        buckets = partition.export_buckets(con, config, part_dir, config.partitions)
        _check_reconciled(con)
        return buckets


def build_partition(part_dir: Path, bucket: int, config: Config) -> dict[str, int]:
    """Sessions, journeys and transition edges of one bucket of customers (runs on any worker)."""
    return partition.build_bucket(part_dir, bucket, config)


def combine_partitions(
    build_path: Path,
    config: Config,
    part_dir: Path,
    buckets: list[int],
    progress: Progress = None,
) -> dict[str, float]:
    """Combine the buckets into events, sessions, journeys, transitions; build the other marts."""
    with _open(build_path, config) as con:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        if progress:
            progress(f"combining {len(buckets)} buckets")
        if buckets:  # without any, export_partitions built the empty tables
            partition.combine_buckets(con, config, part_dir)
        timings["combine_buckets"] = round(time.perf_counter() - started, 3)
        for layer, name in partition.combined_plan():
            if progress:
                progress(f"building {name}")
            started = time.perf_counter()
            run_model(con, layer, name)
            timings[name] = round(time.perf_counter() - started, 3)
        partition.drop_bucket_views(con)
        return timings


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
    with _open(build_path, config) as con:
        if progress:
            progress("computing customer features and churn state")
        definition = churn.resolve_churn_definition(con, config.churn)
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
        write_table(con, "personas", personas.add_top_paths(con, result.personas))
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


def build_insights(build_path: Path, config: Config, progress: Progress = None) -> dict:
    """Reach, lifts, sentiment, removal effect and role of every touchpoint."""
    with _open(build_path, config) as con:
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
    with _open(build_path, config) as con:
        if progress:
            progress("building path variants, anchored paths and funnels")
        counts = paths.build_path_tables(con, config)
        if progress:
            progress("building KPIs over time and touchpoint owners")
        counts |= kpis.build_kpi_tables(con, config)
        note = paths.funnel_note(con)
        return {"counts": counts, "notes": [note] * bool(note)}


def build_customer_attributes(build_path: Path, config: Config, progress: Progress = None) -> dict:
    """Load the customers file (config `customers`), reconcile it and profile personas by it."""
    if config.customers is None:
        return {}
    with _open(build_path, config) as con:
        if progress:
            progress(f"loading customer attributes from {config.customers}")
        return customers.build_customer_tables(
            con, config.customers, config.source_column("customer_id")
        )


def build_persona_insights(build_path: Path, config: Config, progress: Progress = None) -> dict:
    """Per-persona journey map: touchpoint reach, lifts, sentiment and role within each persona."""
    with _open(build_path, config) as con:
        if progress:
            progress("computing touchpoint insights per persona")
        frame = persona_insights.persona_touchpoint_insights(
            con, outcomes=config.outcomes, entity=config.entity
        )
        write_table(con, "persona_touchpoint_insights", frame)
        return {"counts": {"persona_touchpoints": len(frame)}}


def score_churn(build_path: Path, config: Config, progress: Progress = None) -> dict:
    """Find churn patterns, train the churn model on the log's history, score active customers."""
    with _open(build_path, config) as con:
        definition = churn.resolve_churn_definition(con, config.churn)
        if progress:
            progress("finding churn patterns")
        found = patterns.churn_patterns(
            con, "customer_churn_state", retained_until=_retained_until(con, definition)
        )
        write_table(con, "churn_patterns", found)
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
            result = churn.score_churn(
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
        write_table(con, "churn_model_metrics", result.metrics)
        write_table(con, "churn_model_calibration", result.calibration)
        write_table(con, "churn_model_card", _card_frame(result.model_card))
        scored, flagged = con.execute(
            "select count(*), count(*) filter (where risk_tier = 'high') from churn_risk"
        ).fetchone()
        card = result.model_card
        # The list's cautions reach the run summary and pipeline_runs.notes, not only the card.
        notes = [f"churn list: {w}" for w in card.get("warnings") or []]
        if card.get("status") == "not_trained":
            notes.append(f"churn list empty: {card.get('reason') or 'see churn_model_card'}")
        return {
            "counts": {"customers_scored": int(scored), "flagged": int(flagged)},
            "notes": notes,
        }


def build_graphs(build_path: Path, config: Config, progress: Progress = None) -> dict:
    """Segment customers, add the segmented transitions, then graph metrics and cycles."""
    with _open(build_path, config) as con:
        if progress:
            progress("segmenting customers and building segmented transition graphs")
        segments.build_customer_segments(con, config)
        segments.add_segment_transitions(con)
        metrics = touchpoint_graph_metrics(con)
        write_table(con, "touchpoint_graph_metrics", metrics)
        run_model(con, "marts", "transition_cycles")
        graphs = con.execute("select count(distinct (scope, segment)) from transitions").fetchone()
        return {
            "counts": {
                "transition_graphs": int(graphs[0]),
                "bottlenecks": int(metrics["is_bottleneck"].sum()),
            }
        }


def track_transition_changes(
    build_path: Path, config: Config, db_path: Path, run_id: str, progress: Progress = None
) -> dict:
    """Carry transition_history forward from the published file and test changes since then."""
    previous = changes.read_previous_history(db_path)
    with _open(build_path, config) as con:
        if progress:
            progress("comparing transition probabilities with the previous run")
        snapshot = changes.transition_snapshot(con, run_id, datetime.now(UTC))
        history = changes.history_with(previous, snapshot)
        found = changes.transition_changes(history, run_id)
        write_table(con, "transition_history", history)
        write_table(con, "transition_changes", found)
        notes = []
        if previous is None or previous.empty:
            notes.append("no previous run to compare with: transition_changes is empty")
        return {
            "counts": {"significant_transition_changes": int(found["is_significant"].sum())},
            "notes": notes,
        }


def check_guard_rails(build_path: Path, db_path: Path, strict: bool = False) -> dict:
    """Compare the build's churn and personas with the published run's (cjm.guard_rails).

    Collapses become warnings in the run's notes; with `strict` they fail the run instead.
    """
    before = guard_rails.read_published_vitals(db_path)
    if before is None:
        return {"notes": []}
    with connect(build_path, read_only=True) as con:
        now = guard_rails.read_vitals(con)
    found = guard_rails.collapses(before, now)
    if found and strict:
        raise guard_rails.GuardRailError(
            "this run's churn or personas collapsed against the published run, and the run is "
            f"strict, so nothing was published ({db_path} is unchanged): " + "; ".join(found)
        )
    return {"notes": [guard_rails.WARNING_PREFIX + text for text in found]}


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


def finish_run(build_path: Path, record: RunRecord, db_path: Path) -> RunRecord:
    """Drop build-only tables and write pipeline_runs with the history of the published file."""
    with connect(build_path) as con:
        started = time.perf_counter()
        drop_build_tables(con)
        schema = catalog.read_schema()
        _check_keys(con, schema)
        add_file_loads(record, con)
        add_counts(record, con)
        record.status = "success"
        record.finished_at = datetime.now(UTC)
        record.stage_seconds["finish"] = round(time.perf_counter() - started, 3)
        previous = read_previous_runs(db_path)
        write_pipeline_runs(con, record, previous, read_failed_runs(db_path, previous))
        # Last, so that every published table is there to be described (pipeline_runs included).
        paths.create_path_macros(con)
        catalog.publish_catalog(con, schema)
        return record


def _check_keys(con, schema: dict[str, catalog.Model]) -> None:
    """The key tests of every table to publish (sql/schema.yml, the same keys as the SQL headers):
    one grouped count per table."""
    broken = catalog.key_violations(con, schema)
    if broken:
        found = ", ".join(
            f"{table} ({n:,} rows; key {', '.join(schema[table].key)})"
            for table, n in broken.items()
        )
        raise KeyViolationError(
            f"tables whose key is duplicated or NULL, so nothing was published: {found}"
        )


def log_run(db_path: Path, record: RunRecord) -> None:
    """Append the run's outcome (success or failure) to the run log beside the published file."""
    append_run_log(db_path, record)


def run_artifacts(db_path: Path, run_id: str, top: int = 20) -> dict:
    """The run summary (markdown) and the top churn risks (rows), from the published file."""
    with connect(db_path, read_only=True) as con:
        runs = con.execute("select * from pipeline_runs").df()
        warning = "; ".join(read_churn_card(con).get("warnings") or [])
        return {
            "summary": run_summary_markdown(runs, run_id),
            "churn_risks": top_churn_risks(con, top),
            "churn_warning": warning or None,
            "warnings": run_warnings(runs, run_id),
        }


def report_path_for(db_path: Path) -> Path:
    """Where a run writes the journey map: beside the published file, `<stem>_report.html`."""
    return db_path.with_name(f"{db_path.stem}_report.html")


def write_report(db_path: Path, config: Config) -> Path:
    """Write the journey map of the published database beside it (read-only on the database)."""
    from cjm.report import write_report as write_journey_map  # plotly loads only when needed

    return write_journey_map(
        db_path,
        report_path_for(db_path),
        entity=config.entity,
        emotion_min_events=config.emotion_min_events,
        **duckdb_settings(config),
    )
