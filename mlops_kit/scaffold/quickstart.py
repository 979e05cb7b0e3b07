"""The quick start: a demo project on its own local twin, with generated data."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_kit.environments import LOCAL, Workspace, resolve_environment
from mlops_kit.pipelines.demo import write_demo_data
from mlops_kit.pipelines.project import PipelineProject
from mlops_kit.scaffold import new_project

if TYPE_CHECKING:
    from mlops_kit.kit import Kit


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
