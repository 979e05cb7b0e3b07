"""Binary Authorization in every environment, evaluated under mocks: the attestor, its signing key,
who may sign, the admission policy, and what `env import` reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import imported_environment, one, resources_of, stack_config

pytestmark = pytest.mark.pulumi

CRYPTO_KEY = "gcp:kms/cryptoKey:CryptoKey"
ATTESTOR = "gcp:binaryauthorization/attestor:Attestor"
NOTE = "gcp:containeranalysis/note:Note"
POLICY = "gcp:binaryauthorization/policy:Policy"
REPOSITORY = "gcp:artifactregistry/repository:Repository"
REPOSITORY_IAM = "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"


def test_the_signing_key_is_asymmetric_in_hsm_rotated_by_hand_and_protected(prod: Any) -> None:
    key = one(prod, CRYPTO_KEY, "-attestor").props
    assert key["purpose"] == "ASYMMETRIC_SIGN"
    assert key["versionTemplate"] == {"algorithm": "EC_SIGN_P256_SHA256", "protectionLevel": "HSM"}
    assert "rotationPeriod" not in key
    assert key["labels"]["rotation"] == "manual"
    assert key["labels"]["env"] == "prod"
    # In the environment's key ring for the region, beside the CMEK keys.
    assert key["keyRing"].endswith("/keyRings/mlops-prod-keyring-europe-west1")


def test_the_attestor_trusts_the_first_key_version_through_its_note(prod: Any) -> None:
    note = one(prod, NOTE).props
    attestor = one(prod, ATTESTOR).props
    assert note["name"] == "mlops-prod-built-by-ci"
    assert "attestationAuthority" in note
    authority = attestor["attestationAuthorityNote"]
    assert authority["noteReference"] == note["name"]
    [key] = authority["publicKeys"]
    assert key["id"] == (
        "//cloudkms.googleapis.com/v1/projects/acme-ml-prod/locations/europe-west1/keyRings/"
        "mlops-prod-keyring-europe-west1/cryptoKeys/mlops-prod-attestor/cryptoKeyVersions/1"
    )
    assert key["pkixPublicKey"]["signatureAlgorithm"] == "EC_SIGN_P256_SHA256"
    assert key["pkixPublicKey"]["publicKeyPem"].startswith("-----BEGIN PUBLIC KEY-----")


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_staging_and_prod_refuse_images_without_the_attestation(
    evaluations: dict[str, Any], env: str
) -> None:
    policy = one(evaluations[env], POLICY).props
    assert policy["defaultAdmissionRule"] == {
        "evaluationMode": "REQUIRE_ATTESTATION",
        "enforcementMode": "ENFORCED_BLOCK_AND_AUDIT_LOG",
        "requireAttestationsBies": [f"projects/acme-ml-{env}/attestors/mlops-{env}-built-by-ci"],
    }
    patterns = [p["namePattern"] for p in policy["admissionWhitelistPatterns"]]
    # Pinned upstream releases only: the project's own images need the attestation.
    assert not any("docker.pkg.dev" in pattern for pattern in patterns)
    assert "gcr.io/ml-pipeline/*" in patterns


def test_dev_logs_what_staging_and_prod_would_refuse(evaluations: dict[str, Any]) -> None:
    rule = one(evaluations["dev"], POLICY).props["defaultAdmissionRule"]
    assert rule["evaluationMode"] == "REQUIRE_ATTESTATION"
    assert rule["enforcementMode"] == "DRYRUN_AUDIT_LOG_ONLY"
    assert rule["requireAttestationsBies"] == [
        "projects/acme-ml-dev/attestors/mlops-dev-built-by-ci"
    ]


def test_dry_run_admission_outside_dev_is_one_line_naming_the_key() -> None:
    from infra.config import StackConfigError
    from infra.evaluate import evaluate

    config = stack_config("staging")
    config["mlops-kit:cluster"] = {**config["mlops-kit:cluster"], "admission": "dry-run"}
    with pytest.raises(StackConfigError) as error:
        evaluate("staging", config=config)
    message = str(error.value)
    assert "'mlops-kit:cluster.admission' is 'dry-run' in 'staging'" in message
    assert "\n" not in message
    config["mlops-kit:cluster"] = {**config["mlops-kit:cluster"], "admission": "off"}
    with pytest.raises(StackConfigError, match="mlops-kit:cluster.admission"):
        evaluate("staging", config=config)


def test_the_deployer_alone_may_sign_and_only_with_this_key_note_and_attestor(prod: Any) -> None:
    from infra.audit import iam_grants

    signing = {
        "roles/cloudkms.signerVerifier",
        "roles/containeranalysis.notes.attacher",
        "roles/binaryauthorization.attestorsViewer",
        "projects/acme-ml-prod/roles/mlops_prod_attestation_writer",
    }
    grants = {
        (g["member"], g["role"], g["resource"])
        for g in iam_grants(prod.resources)
        if g["role"] in signing
    }
    deployer = "serviceAccount:mlops-deployer@acme-ml-prod.iam.gserviceaccount.com"
    assert grants == {
        (deployer, "roles/cloudkms.signerVerifier", "key mlops-prod-attestor"),
        (deployer, "roles/containeranalysis.notes.attacher", "note mlops-prod-built-by-ci"),
        (deployer, "roles/binaryauthorization.attestorsViewer", "attestor mlops-prod-built-by-ci"),
        (
            deployer,
            "projects/acme-ml-prod/roles/mlops_prod_attestation_writer",
            "project acme-ml-prod",
        ),
    }
    # Recording an attestation is all the project-wide role allows: no edit, no delete.
    role = one(prod, "gcp:projects/iAMCustomRole:IAMCustomRole").props
    assert role["permissions"] == ["containeranalysis.occurrences.create"]
    deployer_on_keys = {
        g["resource"]
        for g in iam_grants(prod.resources)
        if g["member"] == deployer and g["resource"].startswith("key ")
    }
    assert deployer_on_keys == {"key mlops-prod-attestor"}


def test_env_import_reads_the_attestor_and_its_key_version(prod: Any, tmp_path: Path) -> None:
    env = imported_environment(prod, tmp_path)
    assert env.attestor == "projects/acme-ml-prod/attestors/mlops-prod-built-by-ci"
    assert env.attestor_key == (
        "projects/acme-ml-prod/locations/europe-west1/keyRings/mlops-prod-keyring-europe-west1/"
        "cryptoKeys/mlops-prod-attestor/cryptoKeyVersions/1"
    )


def test_a_vertex_environment_has_no_cluster_to_guard_and_no_attestor(vertex: Any) -> None:
    assert not resources_of(vertex, ATTESTOR)
    assert not resources_of(vertex, POLICY)
    assert (vertex.outputs["attestor"], vertex.outputs["attestor_key"]) == (None, None)


def _kit_grants(evaluation: Any) -> set[str]:
    return {
        r.props["member"]
        for r in resources_of(evaluation, REPOSITORY_IAM)
        if r.props["repository"].endswith("-kit")
        and r.props["role"] == "roles/artifactregistry.reader"
    }


def test_the_kit_repository_is_private_unless_the_stack_makes_it_public() -> None:
    from infra.audit import audit_report
    from infra.evaluate import evaluate

    private = evaluate(
        "staging",
        config=stack_config(
            "staging",
            **{
                "mlops-kit:kitRepository": {
                    "readers": ["domain:acme.example", "group:ml@acme.example"]
                }
            },
        ),
    )
    assert _kit_grants(private) == {"domain:acme.example", "group:ml@acme.example"}
    kit = one(private, REPOSITORY, "-kit").props
    assert "public-read" not in kit["labels"]
    assert not [p for p in audit_report(private)["policies"] if p["status"] == "FAIL"]

    public = evaluate("staging")
    assert _kit_grants(public) == {"allUsers"}
    assert one(public, REPOSITORY, "-kit").props["labels"]["public-read"] == "approved"


def test_anyone_is_not_a_configurable_kit_reader() -> None:
    from infra.config import StackConfigError
    from infra.evaluate import evaluate

    config = stack_config("staging", **{"mlops-kit:kitRepository": {"readers": ["allUsers"]}})
    with pytest.raises(StackConfigError, match="'mlops-kit:kitRepository.readers' has 'allUsers'"):
        evaluate("staging", config=config)


def test_the_audit_shows_the_attestor_and_the_policy_and_fails_prod_that_does_not_refuse(
    prod: Any,
) -> None:
    from infra.audit import audit_report
    from infra.evaluate import Evaluation
    from infra.policies.controls import Resource

    report = audit_report(prod)
    settings = {(i["type"], i["name"]): i["settings"] for i in report["inventory"]}
    assert settings[(ATTESTOR, "mlops-prod-built-by-ci")][
        "attestation_authority_note.note_reference"
    ] == ("mlops-prod-built-by-ci")
    policy = settings[(POLICY, "mlops-prod-binary-authorization")]
    assert policy["default_admission_rule.enforcement_mode"] == "ENFORCED_BLOCK_AND_AUDIT_LOG"
    assert policy["default_admission_rule.require_attestations_bies"] == [
        "projects/acme-ml-prod/attestors/mlops-prod-built-by-ci"
    ]
    statuses = {p["control"]: p["status"] for p in report["policies"]}
    assert statuses["gke-binary-authorization-attestor"] == "pass"

    def audited(resources: list[Any]) -> dict[str, list[str]]:
        found = audit_report(Evaluation(prod.environment, resources, prod.outputs))["policies"]
        return {
            p["control"]: [v["message"] for v in p["violations"]]
            for p in found
            if p["status"] == "FAIL"
        }

    logged_only = [
        Resource(r.type, r.name, {**r.props, "defaultAdmissionRule": {
            **r.props["defaultAdmissionRule"], "enforcementMode": "DRYRUN_AUDIT_LOG_ONLY"}})
        if r.type == POLICY else r
        for r in prod.resources
    ]  # fmt: skip
    [message] = audited(logged_only)["gke-binary-authorization-attestor"]
    assert "an image without attestation runs" in message
    no_attestor = [r for r in prod.resources if r.type != ATTESTOR]
    assert list(audited(no_attestor)) == ["gke-binary-authorization-attestor"]
