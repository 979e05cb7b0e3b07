"""Mirroring to the Vertex AI Model Registry: the real client against the cloud twin's Vertex AI."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from mlops_kit import models
from mlops_kit.environments import Environment
from mlops_kit.errors import BackendError, ConfigError
from mlops_kit.kit import Kit
from mlops_kit.models.vertex import mirror_to_vertex, upload_request, vertex_model_id
from tests.cloud_twin.twin import BUCKET, CloudTwin
from tests.models.conftest import train_classifier


@pytest.fixture
def model_service(cloud_twin: CloudTwin) -> Any:
    """The real ``ModelServiceClient`` (REST transport) of the twin's Vertex AI."""
    from google.cloud import aiplatform_v1

    assert cloud_twin.vertex is not None
    return aiplatform_v1.ModelServiceClient(
        transport="rest", client_options={"api_endpoint": cloud_twin.vertex.endpoint}
    )


def _uploads(cloud_twin: CloudTwin) -> list[tuple[str, Any]]:
    assert cloud_twin.vertex is not None
    return [
        (path.split("?")[0], body)
        for method, path, body in cloud_twin.vertex.requests
        if method == "POST" and ":upload" in path
    ]


@pytest.fixture
def vertex_kit(cloud_twin: CloudTwin, tmp_path: Path) -> Any:
    environment = Environment(
        name="dev",
        warehouse=f"duckdb://{tmp_path / 'w.duckdb'}",
        artifacts=f"gs://{BUCKET}/vertex-{uuid.uuid4().hex[:8]}",
        metadata=f"sqlite:///{tmp_path / 'm.db'}",
        orchestrator="kfp-local",
        project="acme-ml-dev",
        region="europe-west1",
        vertex_model_registry=False,  # registration does not mirror; the tests mirror explicitly
        labels={"env": "dev", "cost-center": "ML 42"},
    )
    from mlops_kit.db import migrate

    with Kit(environment) as kit:
        migrate.upgrade(kit.metadata)
        yield kit


def test_first_mirror_creates_the_model_later_ones_add_versions(
    vertex_kit: Any, model_service: Any, cloud_twin: CloudTwin, tmp_path: Path
) -> None:
    artifact = train_classifier(tmp_path / "model")
    models.register(vertex_kit, "Churn_Model", artifact, packages={})
    models.register(vertex_kit, "Churn_Model", artifact, packages={})
    enabled = Kit(vertex_kit.environment.model_copy(update={"vertex_model_registry": True}))
    enabled.__dict__["metadata"] = vertex_kit.metadata  # the same migrated database
    enabled.__dict__["artifacts"] = vertex_kit.artifacts

    first = mirror_to_vertex(enabled, "Churn_Model@1", client=model_service)
    second = mirror_to_vertex(enabled, "Churn_Model@2", client=model_service)

    (path_one, one), (path_two, two) = _uploads(cloud_twin)
    assert path_one == path_two == "/v1/projects/acme-ml-dev/locations/europe-west1/models:upload"
    assert one["modelId"] == "churn-model" and "parentModel" not in one
    model = one["model"]
    assert model["artifactUri"] == models.get_version(vertex_kit, "Churn_Model@1").artifact_uri
    assert model["artifactUri"].startswith("gs://") and model["artifactUri"].endswith("/1")
    assert model["containerSpec"]["imageUri"].endswith("/sklearn-cpu.1-3:latest")
    assert model["versionAliases"] == ["v1"]
    assert model["labels"] == {
        "env": "dev",
        "cost-center": "ml-42",
        "mlops-kit-model": "churn_model",
        "mlops-kit-version": "1",
    }
    assert first == "projects/acme-ml-dev/locations/europe-west1/models/churn-model@1"
    assert two["parentModel"] == "projects/acme-ml-dev/locations/europe-west1/models/churn-model"
    assert "modelId" not in two and two["model"]["versionAliases"] == ["v2"]
    assert second.endswith("/models/churn-model@2")
    assert models.get_version(vertex_kit, "Churn_Model@2").tags == {"vertex.model": second}


def test_mirror_refusals_are_clear(
    vertex_kit: Any, model_service: Any, cloud_twin: CloudTwin, tmp_path: Path
) -> None:
    models.register(vertex_kit, "m", train_classifier(tmp_path / "model"), packages={})
    with pytest.raises(ConfigError, match="does not mirror to Vertex AI"):
        mirror_to_vertex(vertex_kit, "m@1", client=model_service)
    version = models.get_version(vertex_kit, "m@1")
    no_region = vertex_kit.environment.model_copy(update={"region": None})
    with pytest.raises(ConfigError, match="sets no project/region"):
        upload_request(no_region, version)
    from dataclasses import replace

    with pytest.raises(ConfigError, match="Vertex AI reads models from gs:// only"):
        upload_request(vertex_kit.environment, replace(version, artifact_uri="file:///x/m/1"))
    with pytest.raises(ConfigError, match="no Vertex serving image"):
        upload_request(vertex_kit.environment, replace(version, flavor=None))
    enabled = Kit(vertex_kit.environment.model_copy(update={"vertex_model_registry": True}))
    enabled.__dict__["metadata"] = vertex_kit.metadata
    assert cloud_twin.vertex is not None
    cloud_twin.vertex.refusal = "Permission 'aiplatform.models.upload' denied"
    try:
        with pytest.raises(BackendError, match="did not accept m@1: .*upload' denied") as refused:
            mirror_to_vertex(enabled, "m@1", client=model_service)
    finally:
        cloud_twin.vertex.refusal = None
    assert "\n" not in str(refused.value)
    assert models.get_version(vertex_kit, "m@1").tags == {}


@pytest.mark.parametrize(
    ("name", "expected"), [("churn", "churn"), ("Churn_Model.v2", "churn-model-v2"), ("42", "m-42")]
)
def test_vertex_model_ids(name: str, expected: str) -> None:
    assert vertex_model_id(name) == expected


def test_an_environment_that_enables_the_mirror_mirrors_on_registration(
    vertex_kit: Any, cloud_twin: CloudTwin, tmp_path: Path
) -> None:
    # The kit builds its own gRPC client for europe-west1-aiplatform.googleapis.com: the twin's
    # gRPC hosts answer it through grpc_proxy.
    enabled = Kit(vertex_kit.environment.model_copy(update={"vertex_model_registry": True}))
    enabled.__dict__["metadata"] = vertex_kit.metadata
    version = models.register(enabled, "churn", train_classifier(tmp_path / "m"), packages={})
    ((path, body),) = _uploads(cloud_twin)
    assert path == "grpc:/v1/projects/acme-ml-dev/locations/europe-west1/models:upload"
    assert body["model"]["artifactUri"] == version.artifact_uri
    assert version.tags["vertex.model"] == (
        "projects/acme-ml-dev/locations/europe-west1/models/churn@1"
    )
