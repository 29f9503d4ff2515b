"""The journey map as one self-contained HTML page, built from the published database."""

from cjm.report.render import render_report, write_report

__all__ = ["render_report", "write_report"]
