"""The churn list as CSV cannot smuggle spreadsheet formulas, and Parquet keeps values as they
are."""

from __future__ import annotations

import csv

import duckdb
import pandas as pd

from cjm.churn_list import escape_formula, write_churn_list

HOSTILE = [
    '=HYPERLINK("http://attacker.example","x")',
    "+1+2",
    "-2+3",
    "@SUM(A1)",
    "\tcmd",
    "\rcmd",
]


def _published(tmp_path):
    db = tmp_path / "cjm.duckdb"
    con = duckdb.connect(str(db))
    con.execute(
        "create table churn_risk as select * from (values "
        "('=HYPERLINK(\"http://attacker.example\",\"x\")', 0.9, 'high', '+1+2', -1, 90.0), "
        "('-2+3', 0.8, 'high', '@SUM(A1)', 2, 80.0), "
        "('c3', 0.7, 'medium', chr(9) || 'cmd', 3, 70.0), "
        "('c4', 0.2, 'low', chr(13) || 'cmd', 4, 20.0), "
        "('plain', 0.1, 'low', 'no recent visits', 5, 10.0)"
        ") t(customer_id, risk_score, risk_tier, reasons, persona_id, value_at_risk)"
    )
    con.close()
    return db


def test_escape_formula_prefixes_only_formula_text():
    assert [escape_formula(v) for v in HOSTILE] == ["'" + v for v in HOSTILE]
    assert escape_formula("customer 7") == "customer 7"
    assert escape_formula(-3) == -3 and escape_formula(None) is None


def test_churn_list_csv_neutralises_formulas(tmp_path):
    out = tmp_path / "list.csv"
    assert write_churn_list(_published(tmp_path), out) == 5
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    text_cells = [r[k] for r in rows for k in ("customer_id", "risk_tier", "reasons")]
    assert not [c for c in text_cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert rows[0]["customer_id"] == "'" + HOSTILE[0]
    assert rows[1]["customer_id"] == "'-2+3" and rows[1]["reasons"] == "'@SUM(A1)"
    # numbers stay numbers, negative ones included
    assert [r["persona_id"] for r in rows] == ["-1", "2", "3", "4", "5"]
    assert rows[-1]["reasons"] == "no recent visits"


def test_churn_list_parquet_keeps_values(tmp_path):
    out = tmp_path / "list.parquet"
    write_churn_list(_published(tmp_path), out)
    frame = pd.read_parquet(out)
    assert frame["customer_id"].iloc[0] == HOSTILE[0]
    assert frame["reasons"].iloc[0] == "+1+2"
