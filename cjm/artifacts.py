"""The Prefect artifacts of a published run: its summary, the top churn risks, the guard-rail
warnings, and the link to the journey map written beside the published file.

Called from the flow's tasks after publishing (a run context is needed), on the published file
read-only: by then the run is published, so nothing here can fail it.
"""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)

from cjm import steps
from cjm.config import Config


def create_run_artifacts(db_path: Path, run_id: str) -> None:
    """Publish the run summary and the top churn risks (and any guard-rail warning) as artifacts."""
    found = steps.run_artifacts(db_path, run_id)
    create_markdown_artifact(
        found["summary"], key="cjm-run-summary", description=f"cjm run {run_id}: {db_path}"
    )
    caution = f". Caution: {found['churn_warning']}" if found["churn_warning"] else ""
    create_table_artifact(
        found["churn_risks"],
        key="cjm-top-churn-risks",
        description=f"Riskiest customers after cjm run {run_id}{caution}",
    )
    if found["warnings"]:
        create_markdown_artifact(
            "# WARNING: churn or personas collapsed against the previous run\n\n"
            + "".join(f"- **{text}**\n" for text in found["warnings"]),
            key="cjm-guard-rails",
            description=f"cjm run {run_id} published with guard-rail warnings: {db_path}",
        )


def write_linked_report(db_path: Path, config: Config) -> Path | None:
    """Write the journey map beside the published database and link it from the run; None (and
    an error in the run's log) when it cannot be written."""
    try:
        report = steps.write_report(db_path, config)
    except Exception as exc:  # the database is already published: a report must not fail the run
        get_run_logger().error(f"journey map not written: {exc!r}")
        return None
    create_link_artifact(
        key="journey-map",
        link=report.as_uri(),
        link_text=report.name,
        description=f"Journey map of {db_path.name} (self-contained HTML, opens offline)",
    )
    return report
