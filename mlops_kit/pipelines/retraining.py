"""The ``pipeline`` retraining handler: monitoring asks, the project's training pipeline runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_kit.errors import BackendError

if TYPE_CHECKING:
    from mlops_kit.kit import Kit
    from mlops_kit.monitoring.retraining import RetrainingRequest


def submit_training_pipeline(kit: Kit, request: RetrainingRequest) -> str:
    """Submit the training pipeline of the project in the current directory to ``kit``'s orchestrator.

    The run snapshots the project's source again, so it trains on a new data version when the
    source has new rows. On ``kfp-local`` it runs to the end before this returns.

    Returns:
        The id of the run it started; for a run that finished here, also the gate's decision.

    Raises:
        BackendError: the run failed (monitoring records the failure on its check run).
    """
    from mlops_kit.pipelines.project import PipelineProject
    from mlops_kit.pipelines.promotion import GateDecision

    project = PipelineProject.discover()
    run = project.submit(kit, reason="; ".join(request.reasons))
    if run.state == "FAILED":
        raise BackendError(f"retraining run {run.run_id} failed: {run.error} (log: {run.url})")
    decision = GateDecision.of_run(run)
    return run.run_id if decision is None else f"{run.run_id}: {decision.message}"
