"""The quick start: a demo project on its own local twin, with generated data."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from mlops_kit.environments import LOCAL, Workspace, resolve_environment
from mlops_kit.errors import BackendError
from mlops_kit.pipelines.demo import churn_frame, write_demo_data
from mlops_kit.pipelines.project import PipelineProject
from mlops_kit.scaffold import new_project

if TYPE_CHECKING:
    from mlops_kit.kit import Kit

TRAFFIC_SEED: Final = 8
"""Served customers are new ones: another seed than the training data's."""
DAY: Final = 86_400
REQUEST_EVERY: Final = 300
"""Seconds between two requests of the demo day: 288 requests, each a few customers."""


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
    """Start ``mlops-kit serve`` on the champion and send it ``rows`` new demo customers over HTTP.

    The customers arrive over the day before ``end``, a request every few minutes (each logged at
    its time of day, as a day of traffic would be); their outcomes are posted back as ground truth
    by request id, as if observed later: what ``mlops-kit monitor report`` and ``monitor check``
    look at. The server writes its prediction log when it stops.

    Returns:
        The reference of the version that served the traffic.

    Raises:
        NotFoundError: the model has no champion yet.
        BackendError: the server did not start or refused the traffic.
    """
    import json

    import httpx

    from mlops_kit.pipelines.promotion import CHAMPION
    from mlops_kit.serving.process import ServerProcess

    config = project.config(kit.environment.name)
    customers = churn_frame(rows, seed=TRAFFIC_SEED)
    outcomes = customers.pop(config.target).tolist()
    instances = json.loads(customers.to_json(orient="records"))
    end = end or datetime.now(UTC)
    steps = min(rows, DAY // REQUEST_EVERY)
    served: set[str] = set()
    labels: dict[str, object] = {}
    log = project.workspace.local_root / "serving" / "quickstart-server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(
        project.root, f"{config.model_name}@{CHAMPION}", env=kit.environment.name, log=log
    )
    with server, httpx.Client(base_url=server.url, timeout=30) as client:
        for step in range(steps):
            first, last = step * rows // steps, (step + 1) * rows // steps
            at = end - timedelta(days=1) * (steps - step) / steps
            answer = _post(
                client,
                "/predict",
                {"instances": instances[first:last], "parameters": {"logged_at": at.isoformat()}},
            )
            served.add(f"{answer['model']}@{answer['model_version']}")
            labels.update(zip(answer["request_ids"], outcomes[first:last], strict=True))
        _post(client, "/ground-truth", {"labels": labels})
    return ", ".join(sorted(served))


def _post(client: Any, route: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(route, json=body)
    if response.status_code != 200:
        raise BackendError(
            f"the prediction server answered {route} with {response.status_code}: "
            f"{response.json().get('error', response.text)}"
        )
    answer: dict[str, Any] = response.json()
    return answer
