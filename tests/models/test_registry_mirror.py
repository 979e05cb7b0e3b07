"""The Vertex AI Model Registry as registry mirror, against the cloud twin's Vertex AI.

The mirror's ``ModelServiceClient`` speaks gRPC to ``REGION-aiplatform.googleapis.com:443``; the
twin's ``grpc_proxy`` sends that host to its gRPC server, which answers from the Vertex AI fake and
records each upload there as the REST request it stands for.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mlops_kit import models
from mlops_kit.environments import Environment
from mlops_kit.errors import BackendError, ConfigError
from mlops_kit.kit import Kit
from mlops_kit.mirrors import MirroredVersion
from mlops_kit.mirrors.vertex import VertexModelRegistry, vertex_model_id
from tests.cloud_twin.twin import CloudTwin
from tests.cloud_twin.vertex import FakeVertex
from tests.models.conftest import train_classifier

MIRROR = "vertex://acme-ml-dev/europe-west1"


@pytest.fixture
def vertex(cloud_twin: CloudTwin) -> FakeVertex:
    """The twin's Vertex AI, its requests of this test alone."""
    assert cloud_twin.vertex is not None
    return cloud_twin.vertex


def _environment(gcs_uri: str, tmp_path: Path, **fields: Any) -> Environment:
    return Environment(
        name="dev",
        warehouse=f"duckdb://{tmp_path / 'w.duckdb'}",
        artifacts=gcs_uri,
        metadata=f"sqlite:///{tmp_path / 'm.db'}",
        orchestrator="kfp-local",
        labels={"env": "dev", "cost-center": "ML 42"},
        **fields,
    )


@pytest.fixture
def mirror_kit(cloud_twin: CloudTwin, tmp_path: Path) -> Iterator[Kit]:
    """A kit mirroring to the twin's Vertex AI, its artifacts in a bucket of the twin's storage.

    The mirror's own gRPC client dials the regional host as in production; the twin's
    ``grpc_proxy`` takes it to the fake, and its key file is the credentials.
    """
    from mlops_kit.db import migrate

    assert cloud_twin.storage is not None
    artifacts = f"gs://{cloud_twin.storage.create_bucket()}/models"
    with Kit(_environment(artifacts, tmp_path, registry_mirror=MIRROR)) as kit:
        migrate.upgrade(kit.metadata)
        assert isinstance(kit.registry_mirror, VertexModelRegistry)
        yield kit


@pytest.mark.gcs
def test_registration_mirrors_the_first_version_as_a_model_later_ones_as_its_versions(
    mirror_kit: Kit, vertex: FakeVertex, tmp_path: Path
) -> None:
    artifact = train_classifier(tmp_path / "model")
    lineage = models.Lineage(packages={"scikit-learn": "1.3.2"})
    first = models.register(mirror_kit, "Churn_Model", artifact, lineage=lineage)
    second = models.register(mirror_kit, "Churn_Model", artifact, lineage=lineage)

    one, two = vertex.posted("/models:upload")
    assert one["modelId"] == "churn-model" and "parentModel" not in one
    assert one["model"]["artifactUri"] == first.artifact_uri
    assert one["model"]["artifactUri"].startswith("gs://") and first.artifact_uri.endswith("/1")
    # The serving image matches the scikit-learn release the version was trained with.
    assert one["model"]["containerSpec"]["imageUri"] == (
        "europe-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest"
    )
    assert one["model"]["versionAliases"] == ["v1"]
    assert one["model"]["labels"] == {
        "env": "dev",
        "cost-center": "ml-42",
        "mlops-kit-model": "churn_model",
        "mlops-kit-version": "1",
    }
    resource = "projects/acme-ml-dev/locations/europe-west1/models/churn-model"
    assert first.tags == {"vertex.model": f"{resource}@1"}
    assert two["parentModel"] == resource and "modelId" not in two
    assert two["model"]["versionAliases"] == ["v2"]
    assert second.tags == {"vertex.model": f"{resource}@2"}


@pytest.mark.gcs
def test_a_refused_mirror_leaves_the_version_ready_and_untagged(
    mirror_kit: Kit, vertex: FakeVertex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vertex, "refusal", "Permission 'aiplatform.models.upload' denied")
    artifact = train_classifier(tmp_path / "model")
    with pytest.raises(
        BackendError,
        match="did not accept m@1: .*'aiplatform.models.upload' denied .*models mirror m@1",
    ):
        models.register(
            mirror_kit, "m", artifact, lineage=models.Lineage(packages={"scikit-learn": "1.5.2"})
        )
    assert models.get_version(mirror_kit, "m@1").tags == {}
    vertex.refusal = None
    assert models.mirror(mirror_kit, "m@1").endswith("/models/m@1")
    assert models.get_version(mirror_kit, "m@1").tags["vertex.model"].endswith("/models/m@1")


@pytest.mark.gcs
def test_mirror_refusals_are_clear(gcs_uri: str, tmp_path: Path) -> None:
    from mlops_kit.db import migrate

    with Kit(_environment(gcs_uri, tmp_path)) as kit:
        migrate.upgrade(kit.metadata)
        models.register(kit, "m", train_classifier(tmp_path / "model"))
        assert kit.registry_mirror is None
        with pytest.raises(ConfigError, match="has no registry mirror: set 'registry_mirror: "):
            models.mirror(kit, "m@1")
    registry = VertexModelRegistry(MIRROR)
    version = MirroredVersion("m", 1, "file:///x/m/1", "sklearn")
    with pytest.raises(ConfigError, match="Vertex AI reads models from gs:// only"):
        registry.upload_request(version)
    with pytest.raises(ConfigError, match="no Vertex serving image"):
        registry.upload_request(MirroredVersion("m", 1, "gs://b/m/1", None))
    trained = MirroredVersion("m", 1, "gs://b/m/1", "sklearn", packages={"scikit-learn": "1.9.0"})
    with pytest.raises(ConfigError, match=r"\(scikit-learn 1.9.0\): Vertex AI builds sklearn-cpu"):
        registry.upload_request(trained)
    with pytest.raises(ConfigError, match="no recorded scikit-learn release"):
        registry.upload_request(MirroredVersion("m", 1, "gs://b/m/1", "sklearn"))
    custom = registry.upload_request(
        replace(trained, serving_image="europe-docker.pkg.dev/p/r/s@sha256:ab")
    )
    assert custom.model.container_spec.image_uri == "europe-docker.pkg.dev/p/r/s@sha256:ab"
    us = MirroredVersion("m", 1, "gs://b/m/1", "sklearn", packages={"scikit-learn": "0.24.2"})
    assert VertexModelRegistry("vertex://p/us-central1").serving_image(us) == (
        "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.0-24:latest"
    )
    with pytest.raises(ConfigError, match="use 'vertex://PROJECT/LOCATION'"):
        VertexModelRegistry("vertex://acme-ml-dev")


def test_the_client_reaches_the_locations_endpoint_unless_the_uri_names_one() -> None:
    from google.auth.credentials import AnonymousCredentials

    credentials = AnonymousCredentials()
    regional = VertexModelRegistry(MIRROR).client(credentials)
    private = VertexModelRegistry(f"{MIRROR}?api_endpoint=vertex.p.googleapis.com").client(
        credentials
    )
    assert regional.api_endpoint == "europe-west1-aiplatform.googleapis.com"
    assert private.api_endpoint == "vertex.p.googleapis.com"


@pytest.mark.parametrize(
    ("name", "expected"), [("churn", "churn"), ("Churn_Model.v2", "churn-model-v2"), ("42", "m-42")]
)
def test_vertex_model_ids(name: str, expected: str) -> None:
    assert vertex_model_id(name) == expected


def test_environment_files_with_the_old_key_keep_mirroring_to_vertex(tmp_path: Path) -> None:
    old = {
        "name": "dev",
        "warehouse": "duckdb:///w.duckdb",
        "artifacts": "gs://b/models",
        "metadata": "sqlite:///m.db",
        "orchestrator": "kfp-local",
        "project": "acme-ml-dev",
        "region": "europe-west1",
        "vertex_model_registry": True,
    }
    assert Environment.model_validate(old).registry_mirror == MIRROR
    assert (
        Environment.model_validate({**old, "vertex_model_registry": False}).registry_mirror is None
    )
    with pytest.raises(ValueError, match="replaced by registry_mirror: write 'registry_mirror: "):
        Environment.model_validate({**old, "region": None})


def test_doctor_check_without_credentials_says_how_to_get_them() -> None:
    with pytest.raises(BackendError, match="no Google credentials for Vertex AI: run `gcloud auth"):
        VertexModelRegistry(MIRROR).check()
