"""Per-persona aggregates that names and descriptions quote, computed in DuckDB.

Whatever the number of customers, only one row per persona (and one for everyone) reaches
pandas: the means of the mix and outcome columns, and the rhythm columns in the clustering scale.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from cjm.db import quote_ident
from cjm.personas.clustering import LOG_FEATURES
from cjm.personas.features import CHANNEL_PREFIX, TOUCHPOINT_PREFIX
from cjm.personas.traits import RHYTHM_TEXT, RHYTHM_WORDS


def stat_columns(names: list[str]) -> tuple[list[str], list[str]]:
    """(columns whose means describe personas, rhythm columns compared in clustering scale)."""
    mean_cols = [c for c in names if c.startswith((TOUCHPOINT_PREFIX, CHANNEL_PREFIX))]
    mean_cols += [
        c
        for c in ("is_converted", "monetary", "frequency", "sessions_per_week", *RHYTHM_TEXT)
        if c in names and c not in mean_cols
    ]
    rhythm = [c for c in dict.fromkeys(f for f, *_ in RHYTHM_WORDS) if c in names]
    return mean_cols, rhythm


def persona_stats(
    con: duckdb.DuckDBPyConnection,
    input_table: str,
    assigned: str,
    names: list[str],
    has_churn: bool,
) -> tuple[pd.DataFrame, pd.Series]:
    """Per persona (by id) and for everyone: customers and the means the descriptions quote.

    `input_table` holds the clustering input numbered by _pos (with _churned), `assigned` each
    _pos's persona_id.

    Columns `m:<c>` are means of raw columns, `t:<c>` and `sd:<c>` the mean and standard deviation
    of the rhythm columns in the clustering scale (clipped at 0, log1p for LOG_FEATURES).
    """
    mean_cols, rhythm = stat_columns(names)

    def scaled(c: str) -> str:
        value = f"case when i.{quote_ident(c)} < 0 then 0 else i.{quote_ident(c)} end::double"
        return f"ln(1 + {value})" if c in LOG_FEATURES else value

    # exact means: the published rates and revenue per customer are the same on every re-run
    means = [
        f"cjm_exact_avg(i.{quote_ident(c)}::double) as {quote_ident('m:' + c)}" for c in mean_cols
    ]
    means += [f"cjm_exact_avg({scaled(c)}) as {quote_ident('t:' + c)}" for c in rhythm]
    means += [
        "avg(i._churned) as churn",
        "count(i.monetary) as revenue_n" if "monetary" in names else "0 as revenue_n",
    ]
    spread = [f"stddev_samp({scaled(c)}) as {quote_ident('sd:' + c)}" for c in rhythm]
    source = f"from {quote_ident(input_table)} i join {quote_ident(assigned)} a using (_pos)"
    per = con.execute(
        f"select a.persona_id, count(*) as n, {', '.join(means)} {source} "
        "group by a.persona_id order by a.persona_id"
    ).df()
    population = (
        con.execute(f"select count(*) as n, {', '.join(means + spread)} {source}").df().iloc[0]
    )
    per = per.set_index("persona_id")
    if not has_churn:
        per["churn"] = np.nan
    return per, population
