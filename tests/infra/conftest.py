"""Each environment's program is evaluated once per session under Pulumi mocks and shared."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[2]
ENVIRONMENTS = ("dev", "staging", "prod")

pytestmark = pytest.mark.pulumi


@pytest.fixture(scope="session")
def evaluations() -> dict[str, Any]:
    from infra.evaluate import evaluate

    return {env: evaluate(env) for env in ENVIRONMENTS}


@pytest.fixture(scope="session")
def prod(evaluations: dict[str, Any]) -> Any:
    return evaluations["prod"]


@pytest.fixture(scope="session")
def vertex() -> Any:
    """The staging stack with orchestrator ``vertex`` (no cluster; models served by Vertex AI)."""
    from infra.evaluate import evaluate

    return evaluate("staging", config=vertex_config(**{"mlops-kit:vertexModelRegistry": True}))


def vertex_config(env: str = "staging", **changes: Any) -> dict[str, Any]:
    """``env``'s stack file with orchestrator ``vertex`` (its Kubeflow sections removed)."""
    return stack_config(
        env,
        **{
            "mlops-kit:orchestrator": "vertex",
            "mlops-kit:cluster": None,
            "mlops-kit:kubeflow": None,
            **changes,
        },
    )


def stack_config(env: str, **changes: Any) -> dict[str, Any]:
    """The config block of ``env``'s stack file with ``changes`` (None removes a key)."""
    from infra.evaluate import read_stack_config

    config = read_stack_config(env, ROOT)
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    return config


def resources_of(evaluation: Any, type_: str) -> list[Any]:
    return [r for r in evaluation.resources if r.type == type_]


def one(evaluation: Any, type_: str, name_part: str = "") -> Any:
    found = [r for r in resources_of(evaluation, type_) if name_part in r.name]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def imported_environment(evaluation: Any, tmp_path: Path) -> Any:
    """The environment ``mlops-kit env import`` makes of ``evaluation``'s stack outputs, resolved."""
    from mlops_kit.environments import Workspace, import_environment, resolve_environment

    name = evaluation.outputs["environment"]
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(evaluation.outputs), encoding="utf-8")
    (tmp_path / "mlops-kit.yaml").write_text("", encoding="utf-8")
    workspace = Workspace.discover(tmp_path, environ={})
    import_environment(name, path, workspace)
    return resolve_environment(name, workspace=workspace, environ={})
