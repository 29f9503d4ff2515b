"""Plotly figures of churn: risk distribution, calibration and the sequences before churn.

Their inputs are published tables as read by SQL (`churn_risk`, `churn_model_calibration`,
`churn_patterns`); labels from the data go through `style.label`, as in the other figures.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from cjm.report.style import GRID, MUTED, label, layout, rgba

TIER_COLORS = {"high": "#e03131", "medium": "#f08c00", "low": "#2f9e44", "none": "#868e96"}
MODEL_COLORS = ("#5c7cfa", "#e8890c", "#2f9e44", "#ae3ec9", "#868e96")
RISK_BINS = 20  # bars of the risk distribution, each 0.05 wide
PATTERN_LABEL_CHARS = 60  # longer sequences are cut in the axis label (whole in the hover)


def risk_figure(risk: pd.DataFrame, noun: str = "customers") -> go.Figure:
    """How risk scores are spread, one stacked bar per 0.05 of score, coloured by risk tier.

    `risk` has one row per scored customer with `risk_score` (0..1) and `risk_tier`.
    """
    edges = [i / RISK_BINS for i in range(RISK_BINS + 1)]
    fig = go.Figure()
    tiers = [t for t in TIER_COLORS if t in set(risk["risk_tier"])]
    tiers += sorted(set(risk["risk_tier"].dropna()) - set(tiers))
    for tier in tiers:
        scores = risk.loc[risk["risk_tier"] == tier, "risk_score"]
        counts = pd.cut(scores, edges, include_lowest=True).value_counts(sort=False)
        fig.add_trace(
            go.Bar(
                x=[(a + b) / 2 for a, b in zip(edges, edges[1:], strict=False)],
                y=counts.to_numpy(),
                width=1 / RISK_BINS * 0.95,
                name=f"{label(tier)} tier",
                marker={"color": TIER_COLORS.get(tier, MUTED)},
                hovertemplate=f"risk %{{x:.0%}} ± 2.5%: %{{y:,}} {noun} ({label(tier)} tier)"
                "<extra></extra>",
            )
        )
    fig.update_xaxes(tickformat=".0%", range=[0, 1], title_text="risk score", gridcolor=GRID)
    fig.update_yaxes(title_text=noun, gridcolor=GRID)
    return layout(fig, 360, barmode="stack", legend={"orientation": "h", "y": 1.12, "x": 0})


def calibration_figure(calibration: pd.DataFrame) -> go.Figure:
    """Predicted against observed churn per probability bin and model, on the held-out cutoff.

    `calibration` is `churn_model_calibration`: model, mean_predicted, observed_rate, count.
    A well calibrated model lies on the diagonal; marker size is the bin's customers.
    """
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            line={"color": MUTED, "width": 1, "dash": "dot"},
            name="perfectly calibrated",
            hoverinfo="skip",
        )
    )
    biggest = max(float(calibration["count"].max()), 1.0) if len(calibration) else 1.0
    for i, (model, part) in enumerate(calibration.groupby("model", sort=True)):
        part = part.sort_values("mean_predicted")
        color = MODEL_COLORS[i % len(MODEL_COLORS)]
        fig.add_trace(
            go.Scatter(
                x=part["mean_predicted"],
                y=part["observed_rate"],
                mode="lines+markers",
                name=label(model),
                line={"color": rgba(color, 0.7), "width": 2},
                marker={
                    "color": color,
                    "size": [6 + 18 * (n / biggest) ** 0.5 for n in part["count"]],
                },
                customdata=part["count"],
                hovertemplate=f"<b>{label(model)}</b><br>predicted %{{x:.0%}}, "
                "churned %{y:.0%}<br>%{customdata:,} held-out customers<extra></extra>",
            )
        )
    for axis in (fig.update_xaxes, fig.update_yaxes):
        axis(range=[-0.02, 1.02], tickformat=".0%", gridcolor=GRID, zeroline=False)
    fig.update_xaxes(title_text="mean predicted churn probability")
    fig.update_yaxes(title_text="share that churned")
    return layout(fig, 460, legend={"orientation": "h", "y": 1.1, "x": 0})


def patterns_figure(patterns: pd.DataFrame, top: int = 15, noun: str = "customers") -> go.Figure:
    """The `top` sequences with the highest churn lift, as bars written with how many churned.

    `patterns` is `churn_patterns`: pattern, customer_count, churn_rate, lift, q_value.
    """
    shown = patterns.sort_values(["lift", "customer_count"], ascending=False).head(top)
    raw = [str(p) for p in shown["pattern"]]
    names = [label(p) for p in raw]
    most = PATTERN_LABEL_CHARS  # cut before escaping, so no entity is cut in half
    cut = [label(p if len(p) <= most else p[: most - 1] + "…") for p in raw]
    fig = go.Figure(
        go.Bar(
            y=cut,
            x=shown["lift"],
            orientation="h",
            marker={"color": "#e03131"},
            text=[
                f"{rate:.0%} of {count:,} {noun} churned"
                for rate, count in zip(shown["churn_rate"], shown["customer_count"], strict=True)
            ],
            textposition="inside",
            insidetextanchor="end",
            customdata=list(
                zip(
                    names,
                    shown["customer_count"],
                    shown["churn_rate"],
                    shown["q_value"],
                    strict=True,
                )
            ),
            hovertemplate="<b>%{customdata[0]}</b><br>churn lift %{x:.1f}×: %{customdata[2]:.0%} "
            "of %{customdata[1]:,} churned<br>q = %{customdata[3]:.1e}<extra></extra>",
        )
    )
    fig.add_vline(x=1, line={"color": MUTED, "width": 1, "dash": "dot"})
    fig.update_xaxes(
        title_text="churn lift (churn rate with the sequence ÷ everyone's)", gridcolor=GRID
    )
    fig.update_yaxes(autorange="reversed")
    return layout(fig, 120 + 26 * len(shown))
