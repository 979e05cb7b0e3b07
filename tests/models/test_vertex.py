"""Mirroring to the Vertex AI Model Registry: the request the kit builds, without any network."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops_kit import models
from mlops_kit.environments import Environment
from mlops_kit.errors import BackendError, ConfigError
from mlops_kit.kit import Kit
from mlops_kit.models.vertex import mirror_to_vertex, upload_request, vertex_model_id
from tests.models.conftest import train_classifier


@dataclass
class Response:
    model: str
    model_version_id: str


class RecordingModelService:
    """Stands in for ``aiplatform_v1.ModelServiceClient``: records requests, answers like Vertex."""

    def __init__(self, fail: bool = False) -> None:
        self.requests: list[Any] = []
        self.fail = fail

    def upload_model(self, request: Any) -> Any:
        self.requests.append(request)
        if self.fail:
            raise RuntimeError("403 Permission 'aiplatform.models.upload' denied")
        service = self

        class Operation:
            def result(self, timeout: float) -> Response:
                number = str(len(service.requests))
                parent = request.parent_model or f"{request.parent}/models/{request.model_id}"
                return Response(parent, number)

        return Operation()


@pytest.fixture
def vertex_kit(gcs_uri: str, tmp_path: Path) -> Any:
    environment = Environment(
        name="dev",
        warehouse=f"duckdb://{tmp_path / 'w.duckdb'}",
        artifacts=gcs_uri,
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


@pytest.mark.gcs
def test_first_mirror_creates_the_model_later_ones_add_versions(
    vertex_kit: Any, tmp_path: Path
) -> None:
    artifact = train_classifier(tmp_path / "model")
    models.register(vertex_kit, "Churn_Model", artifact, lineage=models.Lineage(packages={}))
    models.register(vertex_kit, "Churn_Model", artifact, lineage=models.Lineage(packages={}))
    enabled = Kit(vertex_kit.environment.model_copy(update={"vertex_model_registry": True}))
    enabled.__dict__["metadata"] = vertex_kit.metadata  # the same migrated database
    enabled.__dict__["artifacts"] = vertex_kit.artifacts
    service = RecordingModelService()

    first = mirror_to_vertex(enabled, "Churn_Model@1", client=service)
    second = mirror_to_vertex(enabled, "Churn_Model@2", client=service)

    one, two = service.requests
    assert one.parent == "projects/acme-ml-dev/locations/europe-west1"
    assert one.model_id == "churn-model" and not one.parent_model
    assert one.model.artifact_uri == models.get_version(vertex_kit, "Churn_Model@1").artifact_uri
    assert one.model.artifact_uri.startswith("gs://") and one.model.artifact_uri.endswith("/1")
    assert one.model.container_spec.image_uri.endswith("/sklearn-cpu.1-3:latest")
    assert list(one.model.version_aliases) == ["v1"]
    assert dict(one.model.labels) == {
        "env": "dev",
        "cost-center": "ml-42",
        "mlops-kit-model": "churn_model",
        "mlops-kit-version": "1",
    }
    assert first == "projects/acme-ml-dev/locations/europe-west1/models/churn-model@1"
    assert two.parent_model == "projects/acme-ml-dev/locations/europe-west1/models/churn-model"
    assert not two.model_id and list(two.model.version_aliases) == ["v2"]
    assert second.endswith("/models/churn-model@2")
    assert models.get_version(vertex_kit, "Churn_Model@2").tags == {"vertex.model": second}


@pytest.mark.gcs
def test_mirror_refusals_are_clear(vertex_kit: Any, tmp_path: Path) -> None:
    models.register(
        vertex_kit, "m", train_classifier(tmp_path / "model"), lineage=models.Lineage(packages={})
    )
    with pytest.raises(ConfigError, match="does not mirror to Vertex AI"):
        mirror_to_vertex(vertex_kit, "m@1", client=RecordingModelService())
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
    with pytest.raises(BackendError, match="Vertex AI did not accept m@1: 403"):
        mirror_to_vertex(enabled, "m@1", client=RecordingModelService(fail=True))
    assert models.get_version(vertex_kit, "m@1").tags == {}


@pytest.mark.parametrize(
    ("name", "expected"), [("churn", "churn"), ("Churn_Model.v2", "churn-model-v2"), ("42", "m-42")]
)
def test_vertex_model_ids(name: str, expected: str) -> None:
    assert vertex_model_id(name) == expected


@pytest.mark.gcs
def test_an_environment_that_enables_the_mirror_mirrors_on_registration(
    vertex_kit: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.cloud import aiplatform_v1

    service = RecordingModelService()
    endpoints: list[Any] = []

    def client(client_options: dict[str, str]) -> RecordingModelService:
        endpoints.append(client_options["api_endpoint"])
        return service

    monkeypatch.setattr(aiplatform_v1, "ModelServiceClient", client)
    enabled = Kit(vertex_kit.environment.model_copy(update={"vertex_model_registry": True}))
    enabled.__dict__["metadata"] = vertex_kit.metadata
    version = models.register(
        enabled, "churn", train_classifier(tmp_path / "m"), lineage=models.Lineage(packages={})
    )
    assert endpoints == ["europe-west1-aiplatform.googleapis.com"]
    assert service.requests[0].model.artifact_uri == version.artifact_uri
    assert version.tags["vertex.model"].endswith("/models/churn@1")
