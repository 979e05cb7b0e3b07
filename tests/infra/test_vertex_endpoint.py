"""The Vertex AI endpoint of a stack with orchestrator vertex, under Pulumi mocks: what the
``vertex-endpoint://`` deploy target finds there."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.conftest import ENVIRONMENTS, one, resources_of, vertex_config

pytestmark = pytest.mark.pulumi

ENDPOINT = "gcp:vertex/aiEndpoint:AiEndpoint"
KEY_GRANT = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"


def test_the_endpoint_is_in_the_region_labelled_and_encrypted_with_its_own_key(
    vertex: Any,
) -> None:
    endpoint = one(vertex, ENDPOINT).props
    assert (endpoint["location"], endpoint["region"]) == ("europe-west1", "europe-west1")
    assert endpoint["displayName"] == "mlops-staging-serving"
    assert endpoint["labels"] == {"env": "staging", "team": "ml-platform", "cost-center": "cc-1234"}
    # Vertex AI needs a key in the endpoint's own region.
    assert endpoint["encryptionSpec"]["kmsKeyName"] == (
        "projects/acme-ml-staging/locations/europe-west1/keyRings/"
        "mlops-staging-keyring-europe-west1/cryptoKeys/mlops-staging-vertex"
    )
    grant = one(vertex, KEY_GRANT, "vertex-agent").props
    assert grant["cryptoKeyId"] == endpoint["encryptionSpec"]["kmsKeyName"]
    assert grant["member"] == (
        "serviceAccount:service-123456789012@gcp-sa-aiplatform.iam.gserviceaccount.com"
    )


def test_only_the_deployer_and_the_pipeline_may_deploy_models_running_as_serving(
    vertex: Any,
) -> None:
    from infra.audit import iam_grants

    acting = {
        g["member"]
        for g in iam_grants(vertex.resources)
        if g["role"] == "roles/iam.serviceAccountUser"
        and g["resource"] == "service account mlops-serving@acme-ml-staging.iam.gserviceaccount.com"
    }
    assert acting == {
        "serviceAccount:mlops-deployer@acme-ml-staging.iam.gserviceaccount.com",
        "serviceAccount:mlops-pipeline-runner@acme-ml-staging.iam.gserviceaccount.com",
    }


def test_without_cmek_the_endpoint_uses_google_managed_keys() -> None:
    from infra.evaluate import evaluate

    evaluation = evaluate("staging", config=vertex_config(**{"mlops-kit:cmek": False}))
    assert "encryptionSpec" not in one(evaluation, ENDPOINT).props
    assert resources_of(evaluation, KEY_GRANT) == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_kubeflow_stacks_serve_on_their_cluster_without_an_endpoint(
    evaluations: dict[str, Any], env: str
) -> None:
    assert resources_of(evaluations[env], ENDPOINT) == []
    assert evaluations[env].outputs["vertex_endpoint"] is None
    assert not [r.name for r in resources_of(evaluations[env], KEY_GRANT) if "-vertex-" in r.name]
