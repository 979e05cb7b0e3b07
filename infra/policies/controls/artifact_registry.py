"""Artifact Registry: where the images the cluster runs and the kit's wheels come from.

Beyond CIS, as checkov checks them: no image repository is public, a Python repository is public
only where the stack says so (the kit's repository may be: it holds the kit's open-source wheels
alone), every repository is encrypted with a customer-managed key, and pushed images are scanned
for vulnerabilities.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from infra.policies.controls.registry import Section
from infra.policies.controls.resources import Resource, get, public_grants

REPOSITORY = "gcp:artifactregistry/repository:Repository"
REPOSITORY_IAM = (
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
    "gcp:artifactregistry/repositoryIamBinding:RepositoryIamBinding",
    "gcp:artifactregistry/repositoryIamPolicy:RepositoryIamPolicy",
)

PUBLIC_READ_APPROVED = ("public-read", "approved")
"""The label the program puts on a repository the stack configuration makes public."""

SECTION = Section("Artifact Registry")


def _iam_on(
    resources: Sequence[Resource], repositories: set[str]
) -> Iterator[tuple[Resource, str]]:
    """(IAM resource, repository id) of each IAM resource that grants on ``repositories``."""
    for resource in resources:
        if resource.type in REPOSITORY_IAM:
            repository = str(resource.props.get("repository", "")).split("/")[-1]
            if repository in repositories:
                yield resource, repository


@SECTION.stack_control(
    "artifact-registry-images-not-public",
    ["checkov CKV_GCP_101"],
    "Image repositories are not anonymously or publicly accessible",
    REPOSITORY,
    *REPOSITORY_IAM,
)
def images_not_public(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    images = {
        str(r.props.get("repositoryId"))
        for r in resources
        if r.type == REPOSITORY and r.props.get("format") == "DOCKER"
    }
    for resource, repository in _iam_on(resources, images):
        for finding in public_grants(resource, f"image repository {repository}"):
            yield resource, finding


@SECTION.stack_control(
    "artifact-registry-python-public-by-choice",
    ["checkov CKV_GCP_101"],
    "A Python repository is public only where the stack configuration says so",
    REPOSITORY,
    *REPOSITORY_IAM,
)
def python_public_by_choice(
    resources: Sequence[Resource],
) -> Iterator[tuple[Resource | None, str]]:
    python = {
        str(r.props.get("repositoryId"))
        for r in resources
        if r.type == REPOSITORY
        and r.props.get("format") == "PYTHON"
        and get(r.props, f"labels.{PUBLIC_READ_APPROVED[0]}") != PUBLIC_READ_APPROVED[1]
    }
    for resource, repository in _iam_on(resources, python):
        for finding in public_grants(resource, f"Python repository {repository}"):
            yield (
                resource,
                f"{finding}, which the stack does not make public: name readers "
                "(mlops-kit:kitRepository.readers), or set kitRepository.public",
            )


@SECTION.resource_control(
    "artifact-registry-cmek",
    ["checkov CKV_GCP_84"],
    "Repositories encrypted with customer-managed keys",
    REPOSITORY,
)
def repository_cmek(resource: Resource) -> Iterator[str]:
    if not resource.props.get("kmsKeyName"):
        yield "no kmsKeyName (CMEK)"


@SECTION.resource_control(
    "artifact-registry-scanning",
    ["CIS GKE 5.1.1"],
    "Image repositories scan pushed images for vulnerabilities",
    REPOSITORY,
)
def repository_scanning(resource: Resource) -> Iterator[str]:
    # Omitted means INHERITED: scanned wherever the Container Scanning API is on (it is).
    if resource.props.get("format") != "DOCKER":
        return
    if get(resource.props, "vulnerabilityScanningConfig.enablementConfig") == "DISABLED":
        yield "vulnerabilityScanningConfig.enablementConfig is DISABLED: pushed images go unscanned"
