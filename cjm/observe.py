"""What a run reports about itself: the run summary and the top churn risks, as plain data."""

from __future__ import annotations

import json
import math
from datetime import date, datetime

import duckdb
import numpy as np
import pandas as pd

from cjm.build.guard_rails import warnings_in
from cjm.db import table_exists

# (label, how to read it from a pipeline_runs row); conversion is derived from two columns.
SUMMARY_METRICS = (
    ("rows read", "rows_read"),
    ("rows accepted", "rows_accepted"),
    ("rows duplicate", "rows_duplicate"),
    ("rows rejected", "rows_rejected"),
    ("events", "events"),
    ("customers", "customers"),
    ("sessions", "sessions"),
    ("conversion rate", "conversion_rate"),
    ("flagged high risk", "flagged"),
)


def _value(row: pd.Series | None, key: str) -> float | None:
    """One metric of a pipeline_runs row, None when absent (older runs lack newer columns)."""
    if row is None:
        return None
    if key == "conversion_rate":
        converted, customers = _value(row, "converted"), _value(row, "customers")
        if converted is None or not customers:
            return None
        return converted / customers
    value = row.get(key)
    if value is None or pd.isna(value):
        return None
    return float(value)


def _fmt(value: float | None, key: str) -> str:
    if value is None:
        return "n/a"
    if key == "conversion_rate":
        return f"{value:.1%}"
    return f"{int(value):,}"


def _change(now: float | None, before: float | None, key: str) -> str:
    if now is None or before is None:
        return "n/a"
    if key == "conversion_rate":
        return f"{(now - before) * 100:+.1f} pp"
    diff = int(now - before)
    share = f" ({diff / before:+.1%})" if before else ""
    return f"{diff:+,}{share}"


def run_warnings(runs: pd.DataFrame, run_id: str) -> list[str]:
    """The guard-rail warnings among one run's notes (cjm.build.guard_rails), without their
    prefix."""
    row = runs[runs["run_id"] == run_id]
    if not len(row) or not isinstance(row["notes"].iloc[0], str):
        return []
    return warnings_in(json.loads(row["notes"].iloc[0]) or [])


def run_summary_markdown(runs: pd.DataFrame, run_id: str) -> str:
    """Markdown summary of one run: counts, changes since the previous successful run, timings."""
    runs = runs.sort_values("started_at", ignore_index=True)
    matches = runs.index[runs["run_id"] == run_id]
    if not len(matches):
        raise ValueError(f"run {run_id} is not in pipeline_runs")
    position = int(matches[0])
    this = runs.loc[position]
    earlier = runs.loc[: position - 1]
    successes = earlier[earlier["status"] == "success"]
    previous = successes.iloc[-1] if len(successes) else None
    since = previous["started_at"] if previous is not None else None
    failed = earlier[earlier["status"].isin(["failed", "interrupted"])]
    if since is not None:
        failed = failed[failed["started_at"] > since]

    lines = [f"# cjm run {run_id}", ""]
    lines.append(f"- status: **{this['status']}**")
    warnings = run_warnings(runs, run_id)
    if warnings:
        lines[-1] += f", with **{len(warnings)} guard-rail warning(s)**"
    lines.append(f"- code version: `{this.get('code_version') or 'unknown'}`")
    lines.append(f"- started: {this['started_at']}, finished: {this['finished_at']}")
    files = json.loads(this["input_files"]) if isinstance(this["input_files"], str) else []
    lines.append(f"- input files: {len(files)}")
    if previous is not None:
        lines.append(f"- compared with the previous successful run `{previous['run_id']}`")
    else:
        lines.append("- first successful run of this database: nothing to compare with")
    if warnings:
        lines += ["", "## WARNING: churn or personas collapsed against the previous run", ""]
        lines += [f"- **{text}**" for text in warnings]
        lines += ["", "Check the new input before acting on churn_risk or personas.", ""]
    lines += ["", "| metric | this run | previous run | change |", "|---|---:|---:|---:|"]
    for label, key in SUMMARY_METRICS:
        now, before = _value(this, key), _value(previous, key)
        lines.append(
            f"| {label} | {_fmt(now, key)} | {_fmt(before, key)} | {_change(now, before, key)} |"
        )
    if len(failed):
        lines += ["", f"## Failed runs since the previous success ({len(failed)})", ""]
        for _, row in failed.iterrows():
            reason = row.get("error") or "no error recorded"
            lines.append(f"- `{row['run_id']}` ({row['status']}): {reason}")
    stages = json.loads(this["stage_seconds"]) if isinstance(this["stage_seconds"], str) else {}
    if stages:
        lines += ["", "## Stage seconds", "", "| stage | seconds |", "|---|---:|"]
        lines += [f"| {name} | {seconds:.2f} |" for name, seconds in stages.items()]
    notes = json.loads(this["notes"]) if isinstance(this.get("notes"), str) else []
    if notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def _json_safe(value: object) -> object:
    """A value a Prefect table artifact can carry: timestamps as ISO text, NaN as None."""
    if value is None:
        return None
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.ndarray):
        return [_json_safe(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value if isinstance(value, str | int | float | bool) else str(value)


def top_churn_risks(con: duckdb.DuckDBPyConnection, top: int = 20) -> list[dict]:
    """The riskiest customers as JSON-serialisable rows, riskiest first."""
    if not table_exists(con, "churn_risk"):
        return []
    frame = con.execute(
        "select * from churn_risk order by risk_score desc, customer_id limit ?", [int(top)]
    ).df()
    frame = frame.astype(object).where(frame.notna(), None)
    return [{k: _json_safe(v) for k, v in row.items()} for row in frame.to_dict("records")]
