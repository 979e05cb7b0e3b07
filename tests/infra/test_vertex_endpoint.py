"""The Vertex AI endpoint of a stack with orchestrator vertex, under Pulumi mocks: what the
``vertex-endpoint://`` deploy target finds there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import (
    ENVIRONMENTS,
    imported_environment,
    one,
    resources_of,
    vertex_config,
)

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
    outputs = evaluations[env].outputs
    assert outputs["vertex_endpoint"] is None
    assert (outputs["vertex_endpoint_access"], outputs["vertex_predict_host"]) == (None, None)
    assert not [r.name for r in resources_of(evaluations[env], KEY_GRANT) if "-vertex-" in r.name]


@pytest.fixture(scope="module")
def vertex_stacks() -> dict[str, Any]:
    """Each environment's stack file with orchestrator vertex, its endpoint settings defaulted."""
    from infra.evaluate import evaluate

    return {env: evaluate(env, config=vertex_config(env)) for env in ENVIRONMENTS}


@pytest.mark.parametrize(
    ("env", "dedicated", "allowlist", "access"),
    [
        ("dev", True, None, "dedicated"),
        ("staging", None, ["acme-ml-staging"], "private-service-connect"),
        ("prod", None, ["acme-ml-prod"], "private-service-connect"),
    ],
)
def test_staging_and_prod_endpoints_are_private_and_dev_is_dedicated(
    vertex_stacks: dict[str, Any],
    env: str,
    dedicated: bool | None,
    allowlist: list[str] | None,
    access: str,
) -> None:
    evaluation = vertex_stacks[env]
    endpoint = one(evaluation, ENDPOINT).props
    assert endpoint.get("dedicatedEndpointEnabled") is dedicated
    # Never VPC peering: it excludes PSC and serves one model, so no traffic split.
    assert "network" not in endpoint
    psc = endpoint.get("privateServiceConnectConfig")
    assert (psc["projectAllowlists"] if psc else None) == allowlist
    assert psc is None or psc["enablePrivateServiceConnect"] is True
    outputs = evaluation.outputs
    assert outputs["vertex_endpoint_access"] == access
    # The dedicated DNS name Vertex AI gives the endpoint; PSC: unknown until the rule exists.
    assert outputs["vertex_predict_host"] == (
        f"{outputs['vertex_endpoint']}.europe-west1-123456789012.prediction.vertexai.goog"
        if dedicated
        else None
    )


def test_env_import_sends_predictions_to_the_dedicated_dns_name(
    vertex_stacks: dict[str, Any], tmp_path: Path
) -> None:
    endpoint = vertex_stacks["dev"].outputs["vertex_endpoint"]
    environment = imported_environment(vertex_stacks["dev"], tmp_path)
    assert environment.deploy == (
        f"vertex-endpoint://acme-ml-dev/europe-west1/{endpoint}"
        f"?predict_host={endpoint}.europe-west1-123456789012.prediction.vertexai.goog"
    )
    # No address known for the PSC endpoint yet: the deploy target says what to set.
    prod = vertex_stacks["prod"]
    assert imported_environment(prod, tmp_path).deploy == (
        f"vertex-endpoint://acme-ml-prod/europe-west1/{prod.outputs['vertex_endpoint']}"
    )


def test_a_psc_endpoint_admits_the_allowed_projects_and_exports_the_rule_address(
    tmp_path: Path,
) -> None:
    from infra.evaluate import evaluate

    psc = {"projectAllowlist": ["acme-apps-prod", "acme-ml-prod"], "predictHost": "10.50.0.9"}
    evaluation = evaluate("prod", config=vertex_config("prod", **{"mlops-kit:vertexEndpoint": psc}))
    config = one(evaluation, ENDPOINT).props["privateServiceConnectConfig"]
    assert config["projectAllowlists"] == ["acme-ml-prod", "acme-apps-prod"]
    assert evaluation.outputs["vertex_predict_host"] == "10.50.0.9"
    deploy = imported_environment(evaluation, tmp_path).deploy
    assert deploy.endswith(f"/{evaluation.outputs['vertex_endpoint']}?predict_host=10.50.0.9")


def test_a_public_dev_endpoint_exports_no_predict_host() -> None:
    from infra.evaluate import evaluate

    config = vertex_config("dev", **{"mlops-kit:vertexEndpoint": {"access": "public"}})
    evaluation = evaluate("dev", config=config)
    endpoint = one(evaluation, ENDPOINT).props
    assert "dedicatedEndpointEnabled" not in endpoint
    assert "privateServiceConnectConfig" not in endpoint
    assert (
        evaluation.outputs["vertex_endpoint_access"],
        evaluation.outputs["vertex_predict_host"],
    ) == ("public", None)
