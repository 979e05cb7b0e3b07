"""Artifact Registry in every environment, evaluated under mocks: repositories, keys and rights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import imported_environment, one, resources_of, stack_config

pytestmark = pytest.mark.pulumi

REPOSITORY = "gcp:artifactregistry/repository:Repository"
REPOSITORY_IAM = "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"


def test_the_image_repository_is_encrypted_scanned_immutable_and_cleaned(prod: Any) -> None:
    images = one(prod, REPOSITORY, "-images").props
    assert images["format"] == "DOCKER"
    assert images["kmsKeyName"]
    assert images["dockerConfig"] == {"immutableTags": True}
    assert images["vulnerabilityScanningConfig"] == {"enablementConfig": "INHERITED"}
    assert images["cleanupPolicyDryRun"] is False
    assert images["cleanupPolicies"] == [
        {
            "id": "delete-untagged",
            "action": "DELETE",
            "condition": {"tagState": "UNTAGGED", "olderThan": f"{14 * 86400}s"},
        }
    ]
    assert images["labels"]["env"] == "prod"


def test_the_python_index_prefers_the_kit_over_the_public_index(prod: Any) -> None:
    kit = one(prod, REPOSITORY, "-kit").props
    public = one(prod, REPOSITORY, "-pypi").props
    virtual = one(prod, REPOSITORY, "-python").props
    assert (kit["format"], kit.get("mode", "STANDARD_REPOSITORY")) == (
        "PYTHON",
        "STANDARD_REPOSITORY",
    )
    assert public["mode"] == "REMOTE_REPOSITORY"
    assert public["remoteRepositoryConfig"] == {"pythonRepository": {"publicRepository": "PYPI"}}
    assert virtual["mode"] == "VIRTUAL_REPOSITORY"
    policies = {
        p["id"]: p["priority"] for p in virtual["virtualRepositoryConfig"]["upstreamPolicies"]
    }
    assert policies["kit"] > policies["pypi"]
    assert all(r.props["kmsKeyName"] for r in resources_of(prod, REPOSITORY))


def test_nodes_and_pipelines_read_the_deployer_writes_only_the_kit_is_public(prod: Any) -> None:
    from infra.audit import iam_grants

    grants = {
        (g["member"].split("@")[0].removeprefix("serviceAccount:"), g["role"], g["resource"])
        for g in iam_grants(prod.resources)
        if g["resource"].startswith("repository ")
    }
    reader, writer = "roles/artifactregistry.reader", "roles/artifactregistry.writer"
    assert grants == {
        *(
            (account, reader, f"repository mlops-prod-{repository}")
            for account in ("mlops-gke-nodes", "mlops-pipeline-runner", "mlops-deployer")
            for repository in ("images", "python")
            if (account, repository) != ("mlops-deployer", "images")
        ),
        # The kit's wheels are open source: pull-request jobs, which get no credentials, read them.
        ("allUsers", reader, "repository mlops-prod-kit"),
        ("mlops-deployer", writer, "repository mlops-prod-images"),
        ("mlops-deployer", writer, "repository mlops-prod-kit"),
    }


def test_a_vertex_environment_has_no_node_reader(vertex: Any) -> None:
    members = {r.props["member"] for r in resources_of(vertex, REPOSITORY_IAM)}
    assert not any("gke-nodes" in m for m in members)
    assert any("pipeline-runner" in m for m in members)


def test_without_cmek_the_repositories_use_googles_keys() -> None:
    from infra.evaluate import evaluate

    evaluation = evaluate("staging", config=stack_config("staging", **{"mlops-kit:cmek": False}))
    assert all(
        "kmsKeyName" not in r.props or r.props["kmsKeyName"] is None
        for r in resources_of(evaluation, REPOSITORY)
    )


def test_env_import_reads_the_image_repository_and_the_kit_index(prod: Any, tmp_path: Path) -> None:
    env = imported_environment(prod, tmp_path)
    assert env.image_repository == "europe-west1-docker.pkg.dev/acme-ml-prod/mlops-prod-images"
    assert (
        env.kit_index == "https://europe-west1-python.pkg.dev/acme-ml-prod/mlops-prod-kit/simple/"
    )


def _audit(evaluation: Any, resources: list[Any]) -> dict[str, Any]:
    from infra.audit import audit_report
    from infra.evaluate import Evaluation

    return audit_report(Evaluation(evaluation.environment, resources, evaluation.outputs))


def _failed(report: dict[str, Any]) -> set[str]:
    return {p["control"] for p in report["policies"] if p["status"] == "FAIL"}


def test_the_audit_shows_the_repositories_their_grants_and_the_admission_policy(
    prod: Any,
) -> None:
    from infra.policies.controls import BINARY_AUTHORIZATION_POLICY

    report = _audit(prod, list(prod.resources))
    repositories = {i["name"] for i in report["inventory"] if i["type"] == REPOSITORY}
    assert repositories == {f"mlops-prod-{r}" for r in ("images", "kit", "pypi", "python")}
    assert any(i["type"] == BINARY_AUTHORIZATION_POLICY for i in report["inventory"])
    repository_grants = {(g["role"], g["resource"]) for g in report["iam"]}
    assert ("roles/artifactregistry.writer", "repository mlops-prod-images") in repository_grants
    statuses = {p["control"]: p["status"] for p in report["policies"]}
    assert statuses["artifact-registry-images-not-public"] == "pass"
    assert statuses["gke-binary-authorization-policy"] == "pass"
    assert not _failed(report)


def test_the_audit_fails_a_public_image_repository(prod: Any) -> None:
    public = [
        type(r)(r.type, r.name, {**r.props, "member": "allAuthenticatedUsers"})
        if r.type == REPOSITORY_IAM and "images" in r.name
        else r
        for r in prod.resources
    ]
    assert _failed(_audit(prod, public)) == {"artifact-registry-images-not-public"}


def test_the_audit_fails_prod_without_an_admission_policy(prod: Any) -> None:
    from infra.policies.controls import BINARY_AUTHORIZATION_POLICY

    without = [r for r in prod.resources if r.type != BINARY_AUTHORIZATION_POLICY]
    assert "gke-binary-authorization-policy" in _failed(_audit(prod, without))
