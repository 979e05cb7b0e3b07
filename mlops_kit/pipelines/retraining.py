"""The ``pipeline`` retraining handler: monitoring asks, the project's training pipeline runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_kit.errors import BackendError
from mlops_kit.monitoring.retraining import HandlerResult

if TYPE_CHECKING:
    from mlops_kit.kit import Kit
    from mlops_kit.monitoring.retraining import RetrainingRequest

_GOING = ("PENDING", "RUNNING")


def submit_training_pipeline(kit: Kit, request: RetrainingRequest) -> HandlerResult:
    """Submit the training pipeline of the project in the current directory to ``kit``'s orchestrator.

    The run snapshots the project's source again, so it trains on a new data version when the
    source has new rows. On ``kfp-local`` it runs to the end before this returns. On a cluster its
    tasks run in the image named by digest that produced the champion (or the one pinned in
    ``configs/ENV.yaml``): see :meth:`~mlops_kit.pipelines.project.PipelineProject.run_target`.

    Returns:
        The run it started: for a run that finished here, the gate's decision and whether the
        candidate was promoted; for a run submitted to a cluster, its id to follow.

    Raises:
        BackendError: the run failed (monitoring records the failure on its check run).
        ConfigError: a cluster run finds no image digest (the run is not submitted).
    """
    from mlops_kit.pipelines.project import PipelineProject
    from mlops_kit.pipelines.promotion import GateDecision

    project = PipelineProject.discover()
    run = project.submit(kit, reason="; ".join(request.reasons))
    if run.state == "FAILED":
        raise BackendError(f"retraining run {run.run_id} failed: {run.error} (log: {run.url})")
    decision = GateDecision.of_run(run)
    if decision is None:
        return HandlerResult(run.run_id, run_id=run.run_id if run.state in _GOING else None)
    return HandlerResult(f"{run.run_id}: {decision.message}", promoted=decision.promoted)
