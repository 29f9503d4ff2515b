"""BG/NBD probability-alive model (Fader, Hardie and Lee 2005), fitted by maximum likelihood.

The churn model's second baseline: the standard "buy till you die" model for non-contractual
customers. Each customer buys at a Poisson rate lambda ~ Gamma(r, alpha) while alive and drops out
after any purchase with probability p ~ Beta(a, b). Its inputs per customer are only x (repeat
purchases), t_x (time of the last purchase since the first) and T (time since the first purchase);
here a purchase is an active day (a day with any event), the usual choice for event logs.

Written out (it is the paper's closed-form likelihood and two conditional expectations) rather than
taken from a library: `lifetimes` is archived and `pymc-marketing` brings a full PyMC stack for
what is a 4-parameter optimisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln

from cjm.churn.queries import analytics_sql, composed, scope_variables, set_variables
from cjm.personas.features import as_utc


def bgnbd_log_likelihood(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Per-customer log-likelihood for params (r, alpha, a, b); equation (6) of the paper."""
    r, alpha, a, b = params
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
    stays = -(r + x) * np.log(alpha + T)
    # B(a + 1, b + x - 1) / B(a, b + x) = a / (b + x - 1); only customers with repeat purchases.
    with np.errstate(divide="ignore", invalid="ignore"):
        drops = np.log(a) - np.log(b + x - 1) - (r + x) * np.log(alpha + t_x)
    drops = np.where(x > 0, drops, -np.inf)
    return common + np.logaddexp(stays, drops)


@dataclass
class BGNBD:
    """BG/NBD with the scikit-learn contract: fit returns self, fitted params_ = (r, alpha, a, b).

    Times in days. penalizer adds an L2 penalty on the log-parameters (scale-free, unlike one on
    the parameters) to keep the optimisation away from degenerate corners on small logs.
    """

    penalizer: float = 0.0

    def fit(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> BGNBD:
        """Maximise the summed log-likelihood over log-parameters (keeps them positive)."""
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        scale = max(float(np.mean(T)), 1.0)

        def objective(log_params: np.ndarray) -> float:
            params = np.exp(log_params)
            ll = bgnbd_log_likelihood(params, x, t_x, T).sum()
            return -ll / len(x) + self.penalizer * float(np.sum(log_params**2))

        start = np.log([1.0, scale, 1.0, 1.0])
        result = minimize(objective, start, method="L-BFGS-B", bounds=[(-10, 10)] * 4)
        self.params_ = tuple(float(v) for v in np.exp(result.x))
        self.log_likelihood_ = float(-result.fun * len(x))
        self.converged_ = bool(result.success)
        return self

    def p_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """P(still alive at T | x, t_x, T); equation (A.6)-style closed form."""
        r, alpha, a, b = self.params_
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_odds = np.log(a) - np.log(b + x - 1) + (r + x) * np.log((alpha + T) / (alpha + t_x))
        return np.where(x > 0, 1.0 / (1.0 + np.exp(log_odds)), 1.0)

    def p_no_purchase(
        self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, horizon: float
    ) -> np.ndarray:
        """P(no purchase in (T, T + horizon]): dropped out, or alive with none at rate lambda."""
        r, alpha, _, _ = self.params_
        x, T = np.asarray(x, dtype=float), np.asarray(T, dtype=float)
        alive = self.p_alive(x, t_x, T)
        quiet_if_alive = ((alpha + T) / (alpha + T + horizon)) ** (r + x)
        return (1 - alive) + alive * quiet_if_alive


def activity_summary(
    con: duckdb.DuckDBPyConnection, as_of: datetime, customers: str | None = None
) -> pd.DataFrame:
    """Per customer with events at or before as_of: x, t_x, T in days from active (UTC) days.

    customers: a table with a customer_id column; only those customers are summarised.
    """
    set_variables(con, {"cjm_churn_as_of": as_utc(as_of)} | scope_variables(customers))
    sql = composed(analytics_sql("churn_activity_summary"), customers=customers)
    df = con.execute(f"{sql} order by customer_id").df()
    df["customer_id"] = df["customer_id"].astype(str)
    return df.astype({"x": float, "t_x": float, "T": float})
