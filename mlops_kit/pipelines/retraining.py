"""The ``pipeline`` retraining handler: monitoring asks, the project's training pipeline runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_kit.kit import Kit
    from mlops_kit.monitoring.retraining import RetrainingRequest


def submit_training_pipeline(kit: Kit, request: RetrainingRequest) -> str:
    """Submit the training pipeline of the project in the current directory to ``kit``'s orchestrator.

    Returns:
        The id of the run it started.
    """
    from mlops_kit.pipelines.project import PipelineProject

    project = PipelineProject.discover()
    run = project.submit(kit, reason="; ".join(request.reasons))
    return run.run_id
