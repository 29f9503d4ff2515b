"""Benchmark the whole cjm pipeline against a bare-DuckDB floor on synthetic events.

Usage: python benchmarks/bench_pipeline.py --events 1000000 10000000 [--threads 2]
       [--memory-limit 8GB] [--temp-directory DIR] [--models-only] [--keep-data]

Each size runs in a fresh subprocess against a fresh DuckDB file on disk: ingestion, every SQL
model, then (unless --models-only) every later step of the flow in flow order through the same
cjm.steps functions, publish and the report. Per stage it reports wall seconds, CPU seconds (all
threads of the process) and the peak RSS sampled every 20 ms while the stage ran. The floor is
plain DuckDB SQL over the same Parquet that writes the same rows as cjm's events and transitions
(checked after timing); the minimal floor only sessionises and counts journey transitions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "data"
RESULTS_DIR = HERE / "results"
GENERATOR_VERSION = 1
SAMPLE_SECONDS = 0.02
SESSION_GAP_SECONDS = 30 * 60
TARGET_SECONDS = 30.0
TARGET_RSS_MB = 3 * 1024.0
# A partitioned run's side of the sessions ratio: load, export and the buckets (which also build
# sessions, journeys and edges, so the ratio is an upper bound there).
PARTITION_STAGES = ("ingestion", "export_buckets", "build_buckets")
# cjm's side of the "sessions" ratio is every stage from ingestion up to the first table that
# materialises sessionising (a model built as a view costs nothing itself: its work runs in the
# first table that reads it), whatever models the build has (see sessions_stages).
SESSIONISED = "int_events_sessionised"

# The floor: bare DuckDB SQL that writes the same rows as cjm's `events` and `transitions` (the
# 'all' segment) from the same clean Parquet file, with the least work that does so: no validation,
# de-duplication or stitching (the generated events need none: every row is valid, every event_id
# unique, no anonymous ids), constants for the columns that are constant here, the touchpoint stages
# as a small table written before the clock starts. run_floor checks its rows against cjm's.
FLOOR_EVENTS_SQL = """
create table floor_events as
with source as (
    select *, file_row_number + 1 as source_row
    from read_parquet($parquet, file_row_number = true)
),
gaps as (
    select
        *,
        epoch(event_time) - epoch(lag(event_time) over journey) as seconds_since_previous
    from source
    window journey as (partition by customer_id order by event_time, source_row)
),
starts as (
    select
        *,
        coalesce(seconds_since_previous >= $gap, true) as is_session_start,
        case when coalesce(seconds_since_previous >= $gap, true) then
            substr(md5(customer_id || chr(31) || cast(epoch_us(event_time) as varchar)), 1, 20)
        end as started_session_id
    from gaps
),
numbered as (
    select
        *,
        row_number() over journey as event_index,
        cast(sum(is_session_start::integer) over journey as bigint) as session_index,
        last_value(started_session_id ignore nulls) over journey as session_id,
        lag(touchpoint) over journey as previous_touchpoint,
        lead(is_session_start) over journey as is_next_session_start
    from starts
    window journey as (
        partition by customer_id order by event_time, source_row
        rows between unbounded preceding and current row
    )
)
select
    event_id,
    customer_id,
    null::varchar as anonymous_id,
    event_time,
    numbered.touchpoint,
    channel,
    floor_stages.stage,
    session_id,
    event_index,
    session_index,
    is_session_start,
    coalesce(is_next_session_start, true) as is_session_end,
    is_next_session_start is null as is_journey_end,
    previous_touchpoint,
    seconds_since_previous,
    revenue,
    sentiment,
    floor_stages.is_conversion_touchpoint or coalesce(revenue > 0, false) as is_conversion,
    false as is_stitched,
    false as is_anonymous,
    $source_file as source_file,
    source_row,
    null::varchar as properties
from numbered
left join floor_stages on numbered.touchpoint = floor_stages.touchpoint
"""

FLOOR_TRANSITIONS_SQL = """
create table floor_transitions as
with steps as (
    select 'journey' as scope, customer_id,
        coalesce(previous_touchpoint, '(start)') as from_touchpoint, touchpoint as to_touchpoint,
        seconds_since_previous as seconds_between
    from floor_events
    union all
    select 'journey', customer_id, touchpoint, '(end)', null
    from floor_events
    where is_journey_end
    union all
    select 'session', customer_id,
        case when is_session_start then '(start)' else previous_touchpoint end, touchpoint,
        case when not is_session_start then seconds_since_previous end
    from floor_events
    union all
    select 'session', customer_id, touchpoint, '(end)', null
    from floor_events
    where is_session_end
),
counted as (
    select
        scope,
        from_touchpoint,
        to_touchpoint,
        count(*) as transition_count,
        count(distinct customer_id) as customer_count,
        median(seconds_between) as median_seconds
    from steps
    group by scope, from_touchpoint, to_touchpoint
)
select
    scope,
    'all' as segment,
    from_touchpoint,
    to_touchpoint,
    transition_count,
    customer_count,
    transition_count / sum(transition_count) over (partition by scope, from_touchpoint)
        as probability,
    median_seconds,
    'all' as segment_type,
    'all' as segment_value
from counted
"""

# The minimal floor, the comparison of the earlier figures: sessionising alone (event and session
# index, no session id, neighbours or stage; ties broken by event_id) and journey-scope transitions
# only. It does less than cjm publishes, so its ratios include the cost of those outputs.
MINIMAL_SESSIONS_SQL = """
create table minimal_sessions as
with gaps as (
    select
        *,
        epoch(event_time) - epoch(lag(event_time) over journey) as seconds_since_previous
    from read_parquet($parquet)
    window journey as (partition by customer_id order by event_time, event_id)
),
numbered as (
    select
        * exclude (seconds_since_previous),
        row_number() over journey as event_index,
        sum(coalesce(seconds_since_previous >= $gap, true)::integer) over journey
            as session_index
    from gaps
    window journey as (
        partition by customer_id order by event_time, event_id
        rows between unbounded preceding and current row
    )
)
select * from numbered
"""

MINIMAL_TRANSITIONS_SQL = """
create table minimal_transitions as
with nexts as (
    select
        customer_id,
        touchpoint,
        lead(touchpoint) over journey as next_touchpoint,
        epoch(lead(event_time) over journey) - epoch(event_time) as seconds_to_next
    from minimal_sessions
    window journey as (partition by customer_id order by event_index)
),
steps as (
    select customer_id, touchpoint as from_touchpoint,
        coalesce(next_touchpoint, '(end)') as to_touchpoint, seconds_to_next as seconds_between
    from nexts
    union all
    select customer_id, '(start)', touchpoint, null
    from minimal_sessions
    where event_index = 1
),
counted as (
    select
        from_touchpoint,
        to_touchpoint,
        count(*) as transition_count,
        count(distinct customer_id) as customer_count,
        median(seconds_between) as median_seconds
    from steps
    group by from_touchpoint, to_touchpoint
)
select
    *,
    transition_count / sum(transition_count) over (partition by from_touchpoint) as probability
from counted
"""


def rss_mb() -> float:
    """Current resident set size of this process in MiB, from /proc/self/status."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def busy_cpu_seconds() -> float:
    """CPU seconds all processes on the machine have used since boot, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = stat.readline().split()[1:]
    # user nice system idle iowait irq softirq steal: everything except idle and iowait
    busy = sum(int(x) for i, x in enumerate(fields[:8]) if i not in (3, 4))
    return busy / os.sysconf("SC_CLK_TCK")


def start_sampler(interval: float = SAMPLE_SECONDS) -> dict:
    """Start a daemon thread that keeps the peak VmRSS seen since the last take_peak call."""
    state = {"peak": rss_mb(), "stop": threading.Event()}

    def loop() -> None:
        while not state["stop"].wait(interval):
            state["peak"] = max(state["peak"], rss_mb())

    state["thread"] = threading.Thread(target=loop, name="rss-sampler", daemon=True)
    state["thread"].start()
    return state


def take_peak(state: dict) -> float:
    """The peak RSS since the previous call (including now), then restart from the current RSS."""
    now = rss_mb()
    peak = max(state["peak"], now)
    state["peak"] = now
    return peak


def measure(stages: list[dict], sampler: dict, name: str, group: str, fn: Callable) -> object:
    """Run fn() as one stage and append its wall, CPU and peak RSS to stages."""
    take_peak(sampler)
    start_rss = rss_mb()
    wall, cpu, busy = time.perf_counter(), time.process_time(), busy_cpu_seconds()
    result = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    others = max(busy_cpu_seconds() - busy - cpu, 0.0)
    stages.append(
        {
            "stage": name,
            "group": group,
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "other_cpu_s": round(others, 2),
            "peak_rss_mb": round(take_peak(sampler), 1),
            "start_rss_mb": round(start_rss, 1),
        }
    )
    # Progress for long runs (100M events take a while): one line per finished stage.
    last = stages[-1]
    print(
        f"  {name}: {last['wall_s']:.1f} s wall, {last['cpu_s']:.1f} s CPU, "
        f"peak {last['peak_rss_mb']:.0f} MiB",
        file=sys.stderr,
        flush=True,
    )
    return result


def bench_config(
    threads: int, memory_limit: str | None, temp_directory: Path | None, partitions: int = 1
):
    """The cjm Config every stage runs with: DuckDB threads, memory limit and spill directory."""
    from cjm.config import Config

    settings: dict = {
        "duckdb_threads": threads,
        "duckdb_memory_limit": memory_limit,
        "partitions": partitions,
    }
    if temp_directory is not None:
        if "duckdb_temp_directory" not in Config.model_fields:
            raise SystemExit("--temp-directory needs a cjm whose Config has duckdb_temp_directory")
        settings["duckdb_temp_directory"] = str(temp_directory)
    return Config(**settings)


def open_build(db: Path, config):
    """A connection to the build file with the config's DuckDB settings, as cjm.steps opens it."""
    from cjm import steps

    return steps.open_build(db, config)


def run_cjm(parquet: Path, db: Path, config, stages, sampler):
    """Ingest and build every model of cjm.build.models.build_models, one timed stage per model."""
    # Imported before the clock starts: the flow's process has its modules loaded already, and
    # importing cjm.steps (pandas, scikit-learn, ...) took 2 s that were counted as ingestion.
    import cjm.stages  # noqa: F401  (not `from cjm import stages`: the list argument's name)
    import cjm.steps  # noqa: F401
    from cjm.build import models, parameters
    from cjm.build.ingest import load_files

    def ingest() -> None:
        con = open_build(db, config)
        loads = load_files(con, [parquet], config)
        parameters.write_file_reads(con, loads)
        con.close()  # the flow's load step closes the build file too (checkpoint)

    measure(stages, sampler, "ingestion", "cjm", ingest)
    if config.partitions > 1:
        run_partitioned(db, config, stages, sampler)
        con = open_build(db, config)
    else:
        con = open_build(db, config)
        run_models(con, config, stages, sampler)
    counts = con.execute(
        "select (select count(*) from events), (select count(*) from sessions), "
        "(select count(*) from journeys), (select count(*) from rejected_events), "
        "(select sum(transition_count) from transitions "
        "where scope = 'journey' and segment = 'all'), "
        "(select bool_and(is_reconciled) from file_loads)"
    ).fetchone()
    measure(stages, sampler, "close (checkpoint)", "cjm", con.close)
    keys = ("events", "sessions", "journeys", "rejected", "transitions", "reconciled")
    result = dict(zip(keys, counts, strict=True))
    result["views"] = list(getattr(models, "VIEWS", models.STAGING))
    return result


def run_models(con, config, stages, sampler) -> None:
    """Every model of cjm.build.models.build_models in order, one timed stage each."""
    from cjm.build import models, parameters

    parameters.set_parameters(con, config)
    for layer, name in models.model_plan():
        if layer == "marts" and name == models.MARTS[0]:
            measure(
                stages,
                sampler,
                "cfg_touchpoint_stages",
                "cjm",
                lambda: parameters.write_touchpoint_stages(con, config),
            )
        measure(
            stages,
            sampler,
            name,
            "cjm",
            lambda layer=layer, name=name: models.run_model(con, layer, name),
        )
        if name == getattr(models, "LAST_LOAD_READER", None):
            models.drop_load_tables(con)


def run_partitioned(db: Path, config, stages, sampler) -> None:
    """The partitioned build (cjm.build.partition) as the flow runs it locally: buckets one at a
    time."""
    from cjm import steps
    from cjm.build.partition import partition_dir_for, remove_buckets

    part_dir = partition_dir_for(db)
    buckets = measure(
        stages,
        sampler,
        "export_buckets (load models, rejected_events, file_loads)",
        "cjm",
        lambda: steps.export_partitions(db, config, part_dir),
    )
    measure(
        stages,
        sampler,
        f"build_buckets ({config.partitions} x sessionise, events, sessions, journeys, edges)",
        "cjm",
        lambda: [steps.build_partition(part_dir, b, config) for b in buckets],
    )
    measure(
        stages,
        sampler,
        "combine_buckets (+ transitions)",
        "cjm",
        lambda: steps.combine_partitions(db, config, part_dir, buckets),
    )
    remove_buckets(part_dir)


def run_steps(db: Path, published: Path, config, stages, sampler) -> dict:
    """Every step after the SQL models, as the flow calls them (cjm.stages.STAGES, in order), then
    publish and the report."""
    from cjm import steps
    from cjm.build import publish
    from cjm.build.runs import new_run
    from cjm.stages import STAGES

    record = new_run(published, parameters={"benchmark": True})
    counts: dict = {}
    for stage in STAGES:
        call = partial(stage.run, db, config, published, record.run_id)
        summary = measure(stages, sampler, stage.name, "steps", call)
        counts.update(summary.get("counts", {}))
    record = measure(
        stages, sampler, "finish_run", "steps", lambda: steps.finish_run(db, record, published)
    )
    measure(stages, sampler, "publish", "steps", lambda: publish.publish(db, published))
    measure(
        stages,
        sampler,
        "run_artifacts",
        "steps",
        lambda: steps.run_artifacts(published, record.run_id),
    )
    report = measure(
        stages, sampler, "report", "steps", lambda: steps.write_report(published, config)
    )
    counts["report_kb"] = round(report.stat().st_size / 1024)
    report.unlink()
    return counts


def run_floor(parquet: Path, db: Path, cjm_db: Path, config, stages, sampler) -> dict:
    """The floor and the minimal floor on the same Parquet in a fresh database file; then whether
    the floor's rows equal cjm's `events` and `transitions` in the build file at cjm_db."""
    import duckdb

    from cjm.config import is_conversion_touchpoint

    sys.path.insert(0, str(HERE))
    from generate_events import TOUCHPOINTS

    con = duckdb.connect(str(db))
    con.execute("set TimeZone = 'UTC'")
    con.execute("set threads = ?", [config.duckdb_threads])
    if config.duckdb_memory_limit:
        con.execute("set memory_limit = ?", [config.duckdb_memory_limit])
    temp = getattr(config, "duckdb_temp_directory", None)
    if temp:
        con.execute("set temp_directory = ?", [str(temp)])
    con.execute(
        "create table floor_stages "
        "(touchpoint varchar, stage varchar, is_conversion_touchpoint boolean)"
    )
    con.executemany(
        "insert into floor_stages values (?, ?, ?)",
        [(t, config.stage_of(t), is_conversion_touchpoint(config, t)) for t in TOUCHPOINTS],
    )
    source = {"parquet": str(parquet), "gap": float(SESSION_GAP_SECONDS)}
    runs = (
        ("floor: events", FLOOR_EVENTS_SQL, source | {"source_file": source_file_of(cjm_db)}),
        ("floor: transitions", FLOOR_TRANSITIONS_SQL, {}),
        ("minimal floor: sessions", MINIMAL_SESSIONS_SQL, source),
        ("minimal floor: transitions", MINIMAL_TRANSITIONS_SQL, {}),
    )
    for name, sql, params in runs:
        measure(stages, sampler, name, "floor", lambda sql=sql, p=params: con.execute(sql, p))
    counts = con.execute(
        "select (select count(*) from floor_events), "
        "(select count(*) from floor_events where is_session_start), "
        "(select sum(transition_count) from floor_transitions where scope = 'journey')"
    ).fetchone()
    result = dict(zip(("events", "sessions", "transitions"), counts, strict=True))
    con.execute("attach ? as cjm (read_only)", [str(cjm_db)])
    result["same_output"] = {
        "events": same_rows(con, "cjm.events", "floor_events"),
        "transitions": same_rows(
            con, "(select * from cjm.transitions where segment = 'all')", "floor_transitions"
        ),
    }
    con.close()
    return result


def source_file_of(cjm_db: Path) -> str:
    """The source_file cjm recorded for the benchmark's one Parquet file (the floor writes the
    same text)."""
    import duckdb

    with duckdb.connect(str(cjm_db), read_only=True) as con:
        return con.execute("select source_file from raw_file_reads").fetchone()[0]


def same_rows(con, cjm_relation: str, floor_table: str) -> bool:
    """Whether two relations hold the same multiset of rows over the floor table's columns: the
    row count and the sum of a hash of every row."""
    from cjm.db import quote_ident

    columns = ", ".join(
        quote_ident(name) for name, *_ in con.execute(f"describe {floor_table}").fetchall()
    )
    fingerprint = "select count(*), sum(hash({columns})::hugeint) from {relation}"
    first = con.execute(fingerprint.format(columns=columns, relation=cjm_relation)).fetchone()
    second = con.execute(fingerprint.format(columns=columns, relation=floor_table)).fetchone()
    return first == second


def worker(args: argparse.Namespace) -> None:
    """Subprocess body: cjm's models, the floor, then cjm's later steps on one Parquet file;
    write JSON to args.out."""
    import duckdb

    config = bench_config(args.threads, args.memory_limit, args.temp_directory, args.partitions)
    sampler = start_sampler()
    stages: list[dict] = []
    baseline = rss_mb()
    cjm_counts = run_cjm(args.parquet, args.db, config, stages, sampler)
    # The floor right after the models it compares with, so a long run has its ratios early.
    floor_db = args.db.with_name(args.db.stem + "_floor.duckdb")
    floor_counts = run_floor(args.parquet, floor_db, args.db, config, stages, sampler)
    remove_db(floor_db)
    step_counts = None
    if not args.models_only:
        step_counts = run_steps(args.db, published_path(args.db), config, stages, sampler)
    sampler["stop"].set()
    stages.sort(key=lambda s: ("cjm", "steps", "floor").index(s["group"]))
    result = {
        "duckdb": duckdb.__version__,
        "baseline_rss_mb": round(baseline, 1),
        "stages": stages,
        "cjm_counts": cjm_counts,
        "step_counts": step_counts,
        "floor_counts": floor_counts,
    }
    args.out.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")


def ensure_events(n: int, data_dir: Path, shape: str = "burst") -> tuple[Path, bool, dict | None]:
    """The cached Parquet for n events of a generator shape, generating it if missing; also
    whether it was new. The burst shape keeps its earlier file name, so cached files and figures
    stay comparable."""
    kind = "" if shape == "burst" else f"_{shape}"
    path = data_dir / f"events_{n}{kind}_v{GENERATOR_VERSION}.parquet"
    if path.exists():
        return path, False, None
    sys.path.insert(0, str(HERE))
    from generate_events import generate

    print(f"generating {n:,} {shape} events -> {path}", file=sys.stderr)
    return path, True, generate(n, path, shape=shape)


def remove_db(db: Path) -> None:
    """Delete a DuckDB file with its WAL and spill directory."""
    for extra in (db, Path(f"{db}.wal")):
        extra.unlink(missing_ok=True)
    spill = Path(f"{db}.tmp")
    if spill.is_dir():
        for item in spill.iterdir():
            item.unlink()
        spill.rmdir()


def published_path(db: Path) -> Path:
    """Where the whole-pipeline run publishes the build (its report goes beside it)."""
    return db.with_name(db.stem + "_published.duckdb")


def run_size(n: int, args: argparse.Namespace) -> dict:
    """Generate or reuse the events for n, run the worker subprocess, summarise its result."""
    parquet, generated, gen_info = ensure_events(n, args.data_dir, args.shape)
    db = args.data_dir / f"bench_{n}.duckdb"
    floor_db = db.with_name(db.stem + "_floor.duckdb")
    published = published_path(db)
    out = args.data_dir / f"bench_{n}.json"
    for path in (db, floor_db, published):
        remove_db(path)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--parquet", str(parquet)]
    cmd += ["--db", str(db), "--threads", str(args.threads), "--out", str(out)]
    if args.memory_limit:
        cmd += ["--memory-limit", args.memory_limit]
    if args.temp_directory:
        cmd += ["--temp-directory", str(args.temp_directory)]
    if args.models_only:
        cmd += ["--models-only"]
    if args.partitions > 1:
        cmd += ["--partitions", str(args.partitions)]
    print(f"running {n:,} events ({args.threads} threads)", file=sys.stderr)
    subprocess.run(cmd, check=True)
    result = json.loads(out.read_text(encoding="utf-8"))
    out.unlink()
    # The whole pipeline publishes (moves) the build file; the models-only run leaves it in place.
    db_mb = (published if published.exists() else db).stat().st_size / 2**20
    if not args.keep_data:
        for path in (db, floor_db, published):
            remove_db(path)
        if generated:
            parquet.unlink()
    return summarise(n, result, gen_info, parquet, db_mb)


def sessions_stages(stages: list[dict], views: list[str]) -> tuple[str, ...]:
    """cjm's side of the sessions ratio: ingestion up to the first table that materialises
    sessionising (`events` while int_events_sessionised is a view), in the order they ran."""
    last = "events" if SESSIONISED in views else SESSIONISED
    names = [s["stage"] for s in stages if s["group"] == "cjm"]
    return tuple(names[: names.index(last) + 1])


def ratios_to(
    cjm_seconds: tuple[float, float], floor_sessions: float, floor_transitions: float
) -> dict[str, float]:
    """cjm's (sessions, transitions) seconds over a floor's: each, and the two together."""
    sessions, transitions = cjm_seconds
    return {
        "sessions": round(sessions / floor_sessions, 2),
        "transitions": round(transitions / floor_transitions, 2),
        "sessions_and_transitions": round(
            (sessions + transitions) / (floor_sessions + floor_transitions), 2
        ),
    }


def summarise(n: int, result: dict, gen_info: dict | None, parquet: Path, db_mb: float) -> dict:
    """Add totals, ratios and the target check to one worker result."""
    stages = result["stages"]
    by_name = {s["stage"]: s for s in stages}
    cjm = [s for s in stages if s["group"] == "cjm"]
    steps = [s for s in stages if s["group"] == "steps"]
    total_wall = sum(s["wall_s"] for s in cjm)
    if "transitions" in by_name:
        session_stages = sessions_stages(stages, result["cjm_counts"]["views"])
        transitions_stage = "transitions"
    else:  # partitioned: the buckets sessionise and count edges in one stage
        session_stages = tuple(s["stage"] for s in cjm if s["stage"].startswith(PARTITION_STAGES))
        transitions_stage = next(s["stage"] for s in cjm if s["stage"].startswith("combine"))
    sessions_cjm = sum(by_name[name]["wall_s"] for name in session_stages)
    transitions_cjm = by_name[transitions_stage]["wall_s"]
    floor_sessions = by_name["floor: events"]["wall_s"]
    floor_transitions = by_name["floor: transitions"]["wall_s"]
    cjm_seconds = (sessions_cjm, transitions_cjm)
    ratios = ratios_to(cjm_seconds, floor_sessions, floor_transitions)
    peak = max(s["peak_rss_mb"] for s in cjm)
    result.update(
        {
            "events": n,
            "parquet": str(parquet),
            "generated": gen_info,
            "db_mb": round(db_mb, 1),
            "cjm_total": {
                "wall_s": round(total_wall, 3),
                "cpu_s": round(sum(s["cpu_s"] for s in cjm), 3),
                "other_cpu_s": round(sum(s["other_cpu_s"] for s in cjm), 2),
                "peak_rss_mb": peak,
            },
            "whole_total": total(cjm + steps) if steps else None,
            "ratios": {
                "sessions": {
                    "cjm_stages": list(session_stages),
                    "cjm_s": round(sessions_cjm, 3),
                    "floor_s": floor_sessions,
                    "ratio": ratios["sessions"],
                },
                "transitions": {
                    "cjm_stage": transitions_stage,
                    "cjm_s": transitions_cjm,
                    "floor_s": floor_transitions,
                    "ratio": ratios["transitions"],
                },
                # events also notes each event's neighbours, which transitions then reads: the
                # two together are the fairest single comparison
                "sessions_and_transitions": {
                    "cjm_s": round(sessions_cjm + transitions_cjm, 3),
                    "floor_s": round(floor_sessions + floor_transitions, 3),
                    "ratio": ratios["sessions_and_transitions"],
                },
            },
            "minimal_ratios": ratios_to(
                cjm_seconds,
                by_name["minimal floor: sessions"]["wall_s"],
                by_name["minimal floor: transitions"]["wall_s"],
            ),
            "meets_target": total_wall < TARGET_SECONDS and peak < TARGET_RSS_MB,
            "counts_match": (
                result["cjm_counts"]["sessions"] == result["floor_counts"]["sessions"]
                and result["cjm_counts"]["transitions"] == result["floor_counts"]["transitions"]
            ),
            "same_output": all(result["floor_counts"]["same_output"].values()),
        }
    )
    return result


def total(stages: list[dict]) -> dict:
    """Summed wall and CPU seconds and the highest peak RSS of some stages."""
    return {
        "wall_s": round(sum(s["wall_s"] for s in stages), 3),
        "cpu_s": round(sum(s["cpu_s"] for s in stages), 3),
        "other_cpu_s": round(sum(s["other_cpu_s"] for s in stages), 2),
        "peak_rss_mb": max(s["peak_rss_mb"] for s in stages),
    }


def total_row(label: str, figures: dict) -> str:
    """A bold Markdown table row for a total."""
    return (
        f"| **{label}** | **{figures['wall_s']:.2f}** | **{figures['cpu_s']:.2f}** "
        f"| **{figures['peak_rss_mb']:.0f}** | {figures['other_cpu_s']:.1f} |"
    )


def markdown(result: dict) -> str:
    """One size's results as a Markdown table, then the ratio lines."""
    n = result["events"]
    lines = [
        f"### {n:,} events",
        "",
        "| stage | wall s | CPU s | peak RSS MiB | other CPU s |",
        "|---|---:|---:|---:|---:|",
    ]
    views = set(result["cjm_counts"]["views"])
    whole = result.get("whole_total")
    previous_group = None
    for s in result["stages"]:
        name = f"{s['stage']} (view)" if s["stage"] in views else s["stage"]
        if previous_group == "cjm" and s["group"] != "cjm":
            lines.append(total_row("ingestion + SQL models", result["cjm_total"]))
        if previous_group == "steps" and s["group"] != "steps":
            lines.append(total_row("whole pipeline", whole))
        previous_group = s["group"]
        lines.append(
            f"| {name} | {s['wall_s']:.2f} | {s['cpu_s']:.2f} | {s['peak_rss_mb']:.0f} "
            f"| {s['other_cpu_s']:.1f} |"
        )
    ratios = result["ratios"]
    minimal = result["minimal_ratios"]
    last = ratios["sessions"]["cjm_stages"][-1]
    both = ratios["sessions_and_transitions"]
    same = result["floor_counts"]["same_output"]
    lines += [
        "",
        f"- sessions: cjm {ratios['sessions']['cjm_s']:.2f} s (ingestion .. {last}) vs "
        f"floor {ratios['sessions']['floor_s']:.2f} s = **{ratios['sessions']['ratio']:.2f}x**",
        f"- transitions: cjm {ratios['transitions']['cjm_s']:.2f} s vs floor "
        f"{ratios['transitions']['floor_s']:.2f} s = **{ratios['transitions']['ratio']:.2f}x**",
        f"- sessions + transitions: cjm {both['cjm_s']:.2f} s vs floor {both['floor_s']:.2f} s "
        f"= **{both['ratio']:.2f}x**",
        f"- the floor's rows: events {'SAME as' if same['events'] else 'DIFFER from'} cjm's, "
        f"transitions {'SAME as' if same['transitions'] else 'DIFFER from'} cjm's",
        f"- against the minimal floor (sessionising and journey transitions only): sessions "
        f"{minimal['sessions']:.2f}x, transitions {minimal['transitions']:.2f}x, both "
        f"{minimal['sessions_and_transitions']:.2f}x",
        f"- target (< {TARGET_SECONDS:.0f} s, < {TARGET_RSS_MB:.0f} MiB): "
        f"{'met' if result['meets_target'] else 'MISSED'}; session and transition counts "
        f"{'match' if result['counts_match'] else 'DIFFER'} between cjm and the floor; "
        f"build file {result['db_mb']:.0f} MiB",
    ]
    if whole:
        counts = result["step_counts"]
        lines.append(
            f"- whole pipeline: {whole['wall_s']:.1f} s, {whole['cpu_s']:.1f} CPU s, peak RSS "
            f"{whole['peak_rss_mb']:.0f} MiB; {counts.get('personas', 0)} personas, "
            f"{counts.get('customers_scored', 0):,} customers scored, report "
            f"{counts.get('report_kb', 0):,} KB"
        )
    lines.append("")
    return "\n".join(lines)


def machine() -> dict:
    """What the numbers were measured on."""
    mem_kb = 0
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    commit = subprocess.run(
        ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "mem_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": commit or None,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (the --worker ones are internal)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-limit", help="DuckDB memory_limit, e.g. 8GB (default: DuckDB's)")
    parser.add_argument(
        "--temp-directory", type=Path, help="DuckDB spill directory (config duckdb_temp_directory)"
    )
    parser.add_argument(
        "--models-only",
        action="store_true",
        help="stop after ingestion and the SQL models (no personas, churn, graphs, report)",
    )
    parser.add_argument(
        "--partitions",
        type=int,
        default=1,
        help="build the per-customer models in P buckets, one after another (config partitions)",
    )
    parser.add_argument(
        "--shape",
        choices=("burst", "live"),
        default="burst",
        help="generated log: burst (the earlier figures' log, almost everyone lapsed at its end) "
        "or live (customers keep arriving, about a third active at the end)",
    )
    parser.add_argument("--keep-data", action="store_true", help="keep Parquet and DuckDB files")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--parquet", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> None:
    """Run every requested size, print Markdown, write JSON to the results directory."""
    args = parse_args()
    if args.worker:
        worker(args)
        return
    args.data_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    results = [run_size(n, args) for n in args.events]
    report(args, started, results, "bench", "cjm pipeline benchmark", markdown, args.memory_limit)


def report(
    args: argparse.Namespace,
    started: datetime,
    results: list[dict],
    prefix: str,
    title: str,
    to_markdown,
    memory_limit: str | None = None,
) -> None:
    """Save the results as JSON in args.results_dir and print them as markdown tables."""
    saved = {"started_at": started.isoformat(timespec="seconds"), "threads": args.threads}
    if memory_limit is not None:
        saved["memory_limit"] = memory_limit
    if getattr(args, "temp_directory", None) is not None:
        saved["temp_directory"] = str(args.temp_directory)
    if hasattr(args, "models_only"):
        saved["whole_pipeline"] = not args.models_only
    if hasattr(args, "shape"):
        saved["shape"] = args.shape
    saved |= {"machine": machine(), "results": results}
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"{prefix}_{started:%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(saved, indent=2, default=str), encoding="utf-8")
    print(f"## {title}, {started:%Y-%m-%d}, {args.threads} threads\n")
    for result in results:
        print(to_markdown(result))
    print(f"JSON: {out}")


if __name__ == "__main__":
    main()
