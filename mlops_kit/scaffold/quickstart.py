"""The quick start: a demo project on its own local twin, with generated data."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final

from mlops_kit.environments import LOCAL, Workspace, resolve_environment
from mlops_kit.pipelines.demo import churn_frame, write_demo_data
from mlops_kit.pipelines.project import PipelineProject
from mlops_kit.scaffold import new_project

if TYPE_CHECKING:
    from mlops_kit.kit import Kit

TRAFFIC_SEED: Final = 8
"""Served customers are new ones: another seed than the training data's."""


@contextmanager
def quickstart_project(
    directory: Path, rows: int = 5000, environ: Mapping[str, str] | None = None
) -> Iterator[tuple[Kit, PipelineProject]]:
    """Create the demo project in ``directory`` with ``rows`` of demo data; yield its kit and project.

    Raises:
        ConflictError: ``directory`` exists and is not empty.
    """
    from mlops_kit.kit import Kit

    environ = {} if environ is None else environ
    workspace = Workspace.discover(directory.parent, environ=environ)
    created = new_project(
        directory, resolve_environment(LOCAL, workspace=workspace, environ=environ)
    )
    project = PipelineProject.discover(workspace=Workspace.discover(created.path, environ=environ))
    config = project.config(LOCAL)
    write_demo_data(project.root / config.source, rows=rows)
    environment = resolve_environment(LOCAL, workspace=project.workspace, environ=environ)
    with Kit(environment) as kit:
        yield kit, project


def serve_demo_traffic(
    kit: Kit, project: PipelineProject, rows: int, end: datetime | None = None
) -> str:
    """Serve the champion to ``rows`` new demo customers over the day before ``end``.

    Logs each prediction, as a deployed model would, and each customer's outcome as ground truth,
    as if observed later: what ``mlops-kit monitor report`` and ``monitor check`` look at.

    Returns:
        The reference of the champion that was served.

    Raises:
        NotFoundError: the model has no champion yet.
    """
    import numpy as np

    from mlops_kit import models
    from mlops_kit.monitoring import PredictionLogger, log_ground_truth
    from mlops_kit.pipelines.evaluation import load_classifier
    from mlops_kit.pipelines.promotion import CHAMPION

    config = project.config(kit.environment.name)
    champion = models.get_version(kit, f"{config.model_name}@{CHAMPION}")
    model = load_classifier(kit, champion.ref)
    customers = churn_frame(rows, seed=TRAFFIC_SEED)
    features = customers.drop(columns=[config.target, *config.params.get("exclude", [])])
    scores = model.predict_proba(features)[:, 1]
    # For two classes, predict() is the more probable one.
    predicted = np.where(scores > 0.5, model.classes_[1], model.classes_[0])
    end = end or datetime.now(UTC)
    # The customers are drawn at random already: one every DAY / rows seconds spreads them evenly.
    step = timedelta(days=1) / rows
    ids = [f"quickstart-{customer}" for customer in customers["customer_id"]]
    with PredictionLogger(kit, champion.name, champion.version) as logger:
        for i, row in enumerate(features.to_dict(orient="records")):
            at = end - (rows - i) * step
            logger.log(ids[i], row, predicted[i], score=scores[i], timestamp=at)
    log_ground_truth(kit, zip(ids, customers[config.target], strict=True))
    return champion.ref
