"""The report's look: palette, fonts, the shared Plotly layout, and how data labels and figures
reach the page.

Every string that comes from the user's data (touchpoint, persona and channel names) goes through
`label()` before it reaches a figure: Plotly reads a small HTML subset in text (`<b>`, `<a href>`,
`<br>`), so an escaped label is shown as written rather than interpreted. Plotly serialises
figures with `<`, `>` and `/` escaped, so no label can end the script element it sits in.
"""

from __future__ import annotations

import html

import plotly.graph_objects as go

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
INK, MUTED, GRID = "#1f2933", "#6b7785", "#e6e9ee"
STAGE_COLORS = {
    "awareness": "#4c6ef5",
    "consideration": "#1c9fb8",
    "purchase": "#e8890c",
    "retention": "#2f9e44",
    "advocacy": "#ae3ec9",
    "exit": "#868e96",
}
ROLE_COLORS = {
    "pain_point": "#e03131",
    "moment_of_truth": "#7048e8",
    "point_of_delight": "#2f9e44",
    "neutral": "#adb5bd",
}
ROLE_NAMES = {
    "pain_point": "Pain point",
    "moment_of_truth": "Moment of truth",
    "point_of_delight": "Point of delight",
    "neutral": "Neutral",
}
NO_STAGE_COLOR, OTHER_COLOR, NODE_COLOR = "#9aa5b1", "#c3cad3", "#5c7cfa"
ENDED_COLOR = "#e9ecef"
CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["lasso2d"]}


def label(value: object) -> str:
    """A data value as text Plotly shows literally."""
    return html.escape(str(value), quote=False)


def layout(fig: go.Figure, height: int, **extra) -> go.Figure:
    """Apply the report's template, fonts and margins (and any `extra` layout) to `fig`."""
    settings = {
        "template": "plotly_white",
        "height": height,
        "margin": {"l": 16, "r": 16, "t": 24, "b": 16},
        "font": {"family": FONT, "size": 13, "color": INK},
        "hoverlabel": {"font": {"family": FONT}},
    }
    fig.update_layout(**{**settings, **extra})
    return fig


def rgba(color: str, alpha: float) -> str:
    """'#rrggbb' as a CSS rgba() colour with the given opacity."""
    color = color.lstrip("#")
    r, g, b = (int(color[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def figure_html(fig: go.Figure, div_id: str) -> str:
    """The figure as a <div> and its script; plotly.js itself is inlined once in the page."""
    return fig.to_html(
        full_html=False, include_plotlyjs=False, include_mathjax=False, div_id=div_id, config=CONFIG
    )
