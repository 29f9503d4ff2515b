"""An independent reader of a written sample: classifies every row of the event files the way
the contract says, sharing no code with the generator."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow.parquet as pq

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def to_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def parse_time(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int):
        return datetime.fromtimestamp(value / 1000 if value > 10**11 else value, tz=UTC)
    try:
        parsed = datetime.fromisoformat(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=AMSTERDAM)
    return parsed.astimezone(UTC)


def row_defects(values: dict) -> list[str]:
    found = []
    if parse_time(values.get("event_time")) is None:
        found.append("time")
    if blank(values.get("customer_id")) and blank(values.get("anonymous_id")):
        found.append("missing_ids")
    if blank(values.get("touchpoint")):
        found.append("blank_touchpoint")
    if not blank(values.get("revenue")) and to_number(values.get("revenue")) is None:
        found.append("bad_revenue")
    sentiment = values.get("sentiment")
    if not blank(sentiment):
        number = to_number(sentiment)
        if number is None or not -1 <= number <= 1:
            found.append("bad_sentiment")
    return found


def read_rows(events_dir: Path) -> list[dict]:
    """Every data row of every file, in reading order, with its raw values (or why not)."""
    rows = []
    for path in sorted(events_dir.iterdir()):
        if path.suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as f:
                reader = csv.reader(f)
                header = next(reader)
                for fields in reader:
                    if len(fields) != len(header):
                        rows.append({"file": path.name, "broken": "broken_line"})
                    else:
                        rows.append({"file": path.name, **dict(zip(header, fields, strict=True))})
        elif path.suffix == ".jsonl":
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    rows.append({"file": path.name, **json.loads(line)})
                except json.JSONDecodeError:
                    rows.append({"file": path.name, "broken": "invalid_json"})
        else:
            for record in pq.read_table(path).to_pylist():
                rows.append({"file": path.name, **record})
    return rows


def classify(events_dir: Path) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """Accepted rows (parsed) and, per file, duplicates and rejected rows by kind."""
    seen: set[str] = set()
    accepted, counts = [], {}
    for row in read_rows(events_dir):
        kinds = counts.setdefault(row["file"], {})
        if "broken" in row:
            kinds[row["broken"]] = kinds.get(row["broken"], 0) + 1
            continue
        defects = row_defects(row)
        assert len(defects) <= 1, f"a messy row has more than one defect: {row}"
        if defects:
            kind = defects[0]
            if kind == "time":
                kind = "missing_time" if row["file"].endswith(".parquet") else "bad_time"
            kinds[kind] = kinds.get(kind, 0) + 1
            assert row["event_id"] not in seen
            continue
        if row["event_id"] in seen:
            kinds["duplicate"] = kinds.get("duplicate", 0) + 1
            continue
        seen.add(row["event_id"])
        accepted.append(
            {
                "event_id": row["event_id"],
                "customer_id": None if blank(row.get("customer_id")) else row["customer_id"],
                "anonymous_id": None if blank(row.get("anonymous_id")) else row["anonymous_id"],
                "raw_time": row["event_time"],
                "event_time": parse_time(row["event_time"]),
                "touchpoint": row["touchpoint"],
                "channel": row.get("channel"),
                "revenue": None if blank(row.get("revenue")) else to_number(row["revenue"]),
                "sentiment": None if blank(row.get("sentiment")) else to_number(row["sentiment"]),
                "file": row["file"],
            }
        )
    frame = pd.DataFrame(accepted)
    frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True)
    return frame, counts


def stitch(events: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """Events with the true customer: anonymous-only rows are resolved through the truth file."""
    by_anon = customers.dropna(subset=["anonymous_id"]).set_index("anonymous_id")["customer_id"]
    who = events["customer_id"].fillna(events["anonymous_id"].map(by_anon))
    return events.assign(true_customer=who).merge(
        customers.rename(columns={"customer_id": "true_customer", "anonymous_id": "anon"}),
        on="true_customer",
        how="left",
    )
