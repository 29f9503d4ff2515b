"""The retention team's churn-risk list and the churn model card, read from the published file.

The list is written as CSV (formula-safe) or Parquet, optionally with pseudonymised ids; the card
is printed as plain text by `cjm churn-list --explain`.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
from pathlib import Path

import duckdb
import pandas as pd

from cjm.db import table_exists
from cjm.query import QueryError, open_published

# Spreadsheet apps run a cell that starts with one of these as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# The list's order: what to act on first. Tier, then the revenue the risk puts in play, then risk.
PRIORITY_ORDER = (
    "case r.risk_tier when 'high' then 0 when 'medium' then 1 else 2 end, "
    "r.value_at_risk desc nulls last, r.risk_score desc, r.customer_id"
)


def pseudonymise(customer_ids: pd.Series, key: bytes) -> pd.Series:
    """Keyed HMAC-SHA256 of each id (first 16 hex digits): stable for one key, not reversible
    without it, so lists from several runs can be matched while the ids stay private."""
    if not key:
        raise QueryError("pseudonymising needs a non-empty key")
    return customer_ids.astype(str).map(
        lambda v: hmac.new(key, v.encode("utf-8"), hashlib.sha256).hexdigest()[:16]
    )


def write_churn_list(
    db_path: Path,
    out: Path,
    top: int | None = None,
    tiers: list[str] | None = None,
    pseudonym_key: bytes | None = None,
    states: list[str] | None = None,
) -> int:
    """Write the churn-risk list in priority order to CSV or Parquet by the file extension.

    tiers, states: keep only these risk tiers, customer states; pseudonym_key: replace customer
    ids by their keyed HMAC (see pseudonymise). Every row carries the list's warning (empty when
    the scores passed the gate), so a spreadsheet cut from the file keeps it.
    """
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise QueryError(f"{out}: use a .csv or .parquet file name")
    con = open_published(db_path)
    try:
        tables = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
        if "churn_risk" not in tables:
            raise QueryError(f"{db_path}: has no churn_risk table; re-run `cjm run`")
        persona = (
            "(select p.name from personas p where p.persona_id = r.persona_id)"
            if "personas" in tables
            else "null::varchar"
        )
        sql = f"""
            select row_number() over (order by {PRIORITY_ORDER}) as priority, r.*,
                   {persona} as persona_name
            from churn_risk r
        """
        params: list = []
        filters = []
        for column, values in (("risk_tier", tiers), ("customer_state", states)):
            if values:
                filters.append(f"r.{column} in (select unnest(?::varchar[]))")
                params.append(list(values))
        if filters:
            sql += " where " + " and ".join(filters)
        sql += f" order by {PRIORITY_ORDER}"
        if top is not None:
            sql += " limit ?"
            params.append(int(top))
        frame = con.execute(sql, params).df()
        frame["warning"] = "; ".join(read_churn_card(con).get("warnings") or [])
    finally:
        con.close()
    if pseudonym_key is not None:
        frame["customer_id"] = pseudonymise(frame["customer_id"], pseudonym_key)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        # Text always quoted: a bare carriage return in a value would otherwise split the row.
        escape_formulas(frame).to_csv(out, index=False, quoting=csv.QUOTE_NONNUMERIC)
    else:
        frame.to_parquet(out, index=False)
    return len(frame)


def churn_list_warnings(db_path: Path) -> list[str]:
    """The published churn list's warnings (the model card's), to show beside the list."""
    con = open_published(db_path)
    try:
        return list(read_churn_card(con).get("warnings") or [])
    finally:
        con.close()


def read_churn_card(con: duckdb.DuckDBPyConnection) -> dict:
    """The published churn model card (item -> value); empty when the database has none."""
    if not table_exists(con, "churn_model_card"):
        return {}
    rows = con.execute("select item, value from churn_model_card").fetchall()
    return {item: json.loads(value) if value else None for item, value in rows}


def escape_formula(value: object) -> object:
    """Prefix text a spreadsheet would run as a formula with a quote, so it shows as text."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def escape_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells cannot run as formulas when opened as CSV."""
    frame = frame.copy()
    for column in frame.columns:
        if not (pd.api.types.is_numeric_dtype(frame[column]) or _is_time(frame[column])):
            frame[column] = frame[column].map(escape_formula)
    return frame


def _is_time(series: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(series) or isinstance(
        series.dtype, pd.DatetimeTZDtype
    )


def explain_churn_model(db_path: Path) -> str:
    """The churn model card in plain text: definition, features, training window, metrics and
    calibration, as the published database holds them."""
    con = open_published(db_path)
    try:
        tables = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
        if "churn_model_card" not in tables:
            raise QueryError(f"{db_path}: has no churn_model_card table; re-run `cjm run`")
        card = read_churn_card(con)
        metrics = con.execute("select * from churn_model_metrics").df()
        calibration = (
            con.execute("select * from churn_model_calibration order by model, bin").df()
            if "churn_model_calibration" in tables
            else pd.DataFrame()
        )
    finally:
        con.close()
    lines = _card_lines(card)
    columns = [
        "model",
        "roc_auc",
        "roc_auc_low",
        "roc_auc_high",
        "pr_auc",
        "precision_at_top10pct",
        "brier",
        "n_holdout",
    ]
    lines += [
        "",
        "Forward holdout metrics:",
        metrics.reindex(columns=columns).to_string(index=False),
    ]
    if len(calibration):
        cal = calibration[
            ["model", "bin_low", "bin_high", "mean_predicted", "observed_rate", "count"]
        ]
        lines += ["", "Calibration (holdout):", cal.to_string(index=False)]
    descriptions = card.get("feature_descriptions") or {}
    if descriptions:
        lines += ["", f"Features ({len(descriptions)}):"]
        lines += [f"  {name}: {text}" for name, text in descriptions.items()]
    return "\n".join(lines)


def _card_lines(card: dict) -> list[str]:
    """The model card's status, definition, scorer, training window and warnings, one per line."""
    lines = [f"Churn model: {card.get('status')}"]
    if card.get("reason"):
        lines.append(f"  note: {card['reason']}")
    definition = card.get("definition") or {}
    if definition:
        lines.append(f"Definition: {definition.get('note')}")
    if card.get("question"):
        lines.append(f"Question: {card['question']}")
    if card.get("score_source"):
        trust = "tiers given" if card.get("trusted") else "not trusted: no tiers"
        lines.append(f"Scores from: {card['score_source']} ({trust}); {card.get('choice')}")
    lines.append(f"Scored at: {card.get('scored_at')}")
    cutoffs = card.get("cutoffs") or []
    if cutoffs:
        lines.append(
            f"Training window: {len(cutoffs)} cutoffs from {cutoffs[0]} to {cutoffs[-1]}; "
            f"holdout cutoff {card.get('holdout_cutoff')}"
        )
    if card.get("estimator"):
        lines.append(f"Estimator: {card['estimator']}")
        lines.append(f"Training rows: {card.get('training_sample')}")
    for warning in card.get("warnings") or []:
        lines.append(f"Warning: {warning}")
    return lines
