"""An image without attestation is refused by the cluster, and the deploy step says so in one line.

GKE's image policy webhook words the denial; :mod:`mlops_kit.images` recognises it and names the
image, the attestor and what to do.
"""

from __future__ import annotations

import pytest

from mlops_kit.errors import AdmissionRefusedError, ConfigError
from mlops_kit.images import (
    admission_refusal,
    image_by_digest,
    is_admission_denial,
    is_digest_reference,
    pinned_image,
    refusal_from,
)

DIGEST = "sha256:" + "0123456789abcdef" * 4
IMAGE = f"europe-west1-docker.pkg.dev/acme-ml-prod/mlops-prod-images/churn@{DIGEST}"
ATTESTOR = "projects/acme-ml-prod/attestors/mlops-prod-built-by-ci"
# What the Kubernetes API returns when Binary Authorization denies a Deployment's pod (the
# replica set's FailedCreate event, as GKE words it).
GKE_DENIAL = (
    'Error creating: pods "churn-7f9c-" is forbidden: image policy webhook backend denied one or '
    f"more images: Image {IMAGE} denied by Binary Authorization default admission rule. Image "
    f"{IMAGE} denied by attestor {ATTESTOR}: No attestations found that were valid and signed "
    "by a key trusted by the attestor"
)


def test_a_denial_of_the_cluster_becomes_one_line_naming_the_image_and_the_attestor() -> None:
    refusal = refusal_from(GKE_DENIAL, IMAGE, ATTESTOR)
    assert isinstance(refusal, AdmissionRefusedError)
    message = str(refusal)
    assert "\n" not in message
    assert message.startswith(f"the cluster refused image {IMAGE}: it has no attestation by ")
    assert ATTESTOR in message
    assert "the project's CI built, pushed and attested them" in message
    assert refusal.exit_code == AdmissionRefusedError.exit_code != ConfigError.exit_code


@pytest.mark.parametrize(
    "other",
    [
        'pods "churn" is forbidden: exceeded quota: compute-resources',
        "connection refused",
        "",
    ],
)
def test_other_errors_of_the_cluster_are_not_taken_for_a_refusal(other: str) -> None:
    assert not is_admission_denial(other)
    assert refusal_from(other, IMAGE, ATTESTOR) is None


def test_a_tagged_image_is_refused_for_its_tag_and_an_old_environment_for_its_attestor() -> None:
    tagged = str(admission_refusal("europe-west1-docker.pkg.dev/p/r/churn:latest", ATTESTOR))
    assert "a tag names none" in tagged and "\n" not in tagged
    unknown = str(admission_refusal(IMAGE, None))
    assert "this environment names no attestor: re-import it with `mlops-kit env import`" in unknown


def test_a_deployment_names_its_image_by_digest_before_it_reaches_the_cluster() -> None:
    assert pinned_image(IMAGE) == IMAGE
    assert pinned_image(image_by_digest("r/churn:v1", DIGEST)) == f"r/churn@{DIGEST}"


@pytest.mark.parametrize(
    "image",
    [
        "europe-west1-docker.pkg.dev/p/r/churn:latest",
        "churn",
        f"churn@{DIGEST[:-1]}",
        f"../../etc/passwd@{DIGEST}x",
        "<script>alert(1)</script>",
        "r/churn'; DROP TABLE models; --",
        "r/" + "x" * 10_000,
    ],
)
def test_an_image_not_named_by_its_digest_is_one_line(image: str) -> None:
    with pytest.raises(ConfigError) as error:
        pinned_image(image)
    message = str(error.value)
    assert "is not named by a digest: deploy REPOSITORY/NAME@sha256:<digest>" in message
    assert "\n" not in message and len(message) < 400


def test_digest_references_are_a_digest_or_an_image_named_by_one() -> None:
    assert is_digest_reference(DIGEST)
    assert is_digest_reference(IMAGE)
    assert not is_digest_reference("churn:latest")
    assert not is_digest_reference(f"churn @{DIGEST}")
