"""The analytic stages of a run, in order: the one list the flow, tests/published.py and the
pipeline benchmark iterate, so none of them can run a stage the others leave out.

A run is: plan the load, load the event files (`load_events`), build the SQL models
(`build_journeys`, or its partitioned form), then every stage of STAGES in order, then the guard
rails, `finish_run` and publish. Loading and the SQL models stay outside STAGES: the flow plans and
partitions them, and they return files and per-model seconds rather than a stage summary.

No Prefect here: the flow (cjm.flows) makes one task of each stage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cjm import steps
from cjm.config import Config


@dataclass(frozen=True)
class Stage:
    """One analytic stage: its name (in pipeline_runs.stage_seconds) and its cjm.steps function."""

    name: str
    step: Callable[..., dict | None]
    # The step also reads the published file (`db_path`) and stamps its rows with `run_id`:
    # history carried across runs (persona ids, transition changes).
    reads_published: bool = False

    def run(
        self,
        build_path: Path,
        config: Config,
        db_path: Path | None = None,
        run_id: str | None = None,
        progress: steps.Progress = None,
    ) -> dict:
        """Run the step on the build; return its summary (counts, notes), empty when it has none."""
        if self.reads_published:
            summary = self.step(
                build_path, config, progress=progress, db_path=db_path, run_id=run_id
            )
        else:
            summary = self.step(build_path, config, progress=progress)
        return summary or {}


STAGES: tuple[Stage, ...] = (
    Stage("build_personas", steps.build_personas, reads_published=True),
    Stage("build_customer_attributes", steps.build_customer_attributes),
    Stage("build_persona_insights", steps.build_persona_insights),
    Stage("build_insights", steps.build_insights),
    Stage("build_paths", steps.build_paths),
    Stage("score_churn", steps.score_churn),
    Stage("build_graphs", steps.build_graphs),
    Stage("track_transition_changes", steps.track_transition_changes, reads_published=True),
)


def stage_names() -> list[str]:
    """The names of STAGES, in run order."""
    return [stage.name for stage in STAGES]
