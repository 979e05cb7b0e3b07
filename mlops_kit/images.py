"""Container images: named by digest, where the serving image answers, and why a cluster refused one.

A digest names one image for good; a tag can be moved to another image after it was tested,
attested or approved. The project's CI builds an image, attests its digest for Binary
Authorization (the environment's ``attestor``), and hands that digest to the pipeline run and the
deployment. A cluster of a staging or prod environment refuses any other image of the project;
:func:`admission_refusal` turns that refusal into the one line a deploy step prints.
"""

from __future__ import annotations

import re
from typing import Final

from mlops_kit.errors import AdmissionRefusedError, ConfigError, shorten

SERVER_PORT: Final = 8080
"""Where the kit's serving image answers (Vertex AI may move it with ``AIP_HTTP_PORT``)."""
PREDICT_ROUTE: Final = "/predict"
HEALTH_ROUTE: Final = "/ready"
"""Answers once a model version is loaded: the readiness of a pod or a Vertex AI replica."""
IMAGE_LIMIT = 200
"""Characters of an image quoted in a message: a registry path plus a digest is about 130."""
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_PINNED = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")
# How GKE reports a Binary Authorization denial: the pod (or the Deployment's replica set) is
# refused by the image policy webhook, naming the attestor whose attestation is missing.
_DENIAL = re.compile(
    r"binary authorization|image policy webhook|imagepolicywebhook|denied by attestor"
    r"|no attestations found",
    re.IGNORECASE,
)


def check_digest(digest: str) -> str:
    """``digest`` if it is an image digest: ``sha256:`` and 64 lower-case hex digits.

    Raises:
        ConfigError: it is not.
    """
    if not _DIGEST.match(digest):
        raise ConfigError(
            f"invalid image digest {shorten(digest)!r}: write sha256: and 64 lower-case hex "
            "digits, as the image build reports it"
        )
    return digest


def is_digest_reference(value: str) -> bool:
    """Whether ``value`` is a digest (``sha256:…``) or an image named by one (``IMAGE@sha256:…``)."""
    return bool(_DIGEST.match(value) or _PINNED.match(value))


def image_by_digest(image: str, digest: str) -> str:
    """``image`` (a repository path, with or without tag or digest) named by ``digest``.

    Raises:
        ConfigError: ``digest`` is not ``sha256:`` and 64 lower-case hex digits.
    """
    check_digest(digest)
    repository = image.partition("@")[0]
    path, _, last = repository.rpartition("/")
    name = last.partition(":")[0]
    return f"{path}/{name}@{digest}" if path else f"{name}@{digest}"


def pinned_image(image: str) -> str:
    """``image`` if it is named by its digest (``REPOSITORY/NAME@sha256:…``).

    A deploy target calls this before it asks a cluster to run ``image``: a tag names whatever
    was pushed last, not the image CI attested.

    Raises:
        ConfigError: ``image`` is named by a tag or by nothing.
    """
    if not _PINNED.match(image):
        raise ConfigError(
            f"image {shorten(image, IMAGE_LIMIT)!r} is not named by a digest: deploy "
            "REPOSITORY/NAME@sha256:<digest>, the digest the project's CI built and attested "
            "(a tag can move to another image)"
        )
    return image


def is_admission_denial(message: str) -> bool:
    """Whether a cluster's error ``message`` is a Binary Authorization refusal of an image."""
    return bool(_DENIAL.search(message))


def admission_refusal(
    image: str, attestor: str | None, attestor_key: str | None = None
) -> AdmissionRefusedError:
    """The one-line error for a cluster that refused ``image`` for want of an attestation.

    Args:
        image: the image the deployment asked for (``REPOSITORY/NAME@sha256:…``).
        attestor: the environment's ``attestor`` (``projects/PROJECT/attestors/NAME``), whose
            attestation the cluster's policy requires; ``None`` when the environment was imported
            before it had one.
        attestor_key: the environment's ``attestor_key`` (a KMS key version), named in the
            command that attests the image; ``None`` when the environment does not record it.

    Returns:
        The error to raise (``raise admission_refusal(image, env.attestor) from None``).
    """
    if attestor is None:
        return AdmissionRefusedError(
            f"the cluster refused image {shorten(image, IMAGE_LIMIT)} (Binary Authorization), and this "
            "environment names no attestor: re-import it with `mlops-kit env import`, then "
            "deploy an image the project's CI built and attested"
        )
    if not _PINNED.match(image):
        return AdmissionRefusedError(
            f"the cluster refused image {shorten(image, IMAGE_LIMIT)}: Binary Authorization checks the "
            f"attestation by {attestor} of a digest, and a tag names none; deploy "
            "REPOSITORY/NAME@sha256:<digest> as the project's CI built and attested it"
        )
    sign = (
        f" (or attest it: `gcloud container binauthz attestations sign-and-create "
        f"--artifact-url={shorten(image, IMAGE_LIMIT)} --attestor={attestor} "
        f"--keyversion={attestor_key}`)"
        if attestor_key
        else ""
    )
    return AdmissionRefusedError(
        f"the cluster refused image {shorten(image, IMAGE_LIMIT)}: it has no attestation by {attestor}; "
        "images run there only after the project's CI built, pushed and attested them (its "
        f"submit job), so deploy the digest that job reported{sign}"
    )


def refusal_from(
    message: str, image: str, attestor: str | None, attestor_key: str | None = None
) -> AdmissionRefusedError | None:
    """:func:`admission_refusal` if ``message`` (a cluster's error) is an admission denial.

    A deploy target passes every error of the cluster through this and raises what it returns;
    other errors (``None``) keep their own handling.
    """
    if not is_admission_denial(message):
        return None
    return admission_refusal(image, attestor, attestor_key)
