"""Artifact Registry: where the images the cluster runs and the kit's wheels come from.

Beyond CIS, as checkov checks them: no image repository is public (the kit's repository may be: it
holds the kit's open-source wheels alone), every repository is encrypted with a customer-managed
key, and pushed images are scanned for vulnerabilities.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from infra.policies.controls.registry import Section
from infra.policies.controls.resources import PUBLIC_MEMBERS, Resource, get, iam_entries

REPOSITORY = "gcp:artifactregistry/repository:Repository"
REPOSITORY_IAM = (
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
    "gcp:artifactregistry/repositoryIamBinding:RepositoryIamBinding",
    "gcp:artifactregistry/repositoryIamPolicy:RepositoryIamPolicy",
)

SECTION = Section("Artifact Registry")


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
    for resource in resources:
        if resource.type not in REPOSITORY_IAM:
            continue
        repository = str(resource.props.get("repository", "")).split("/")[-1]
        if repository not in images:
            continue
        for member, role in iam_entries(resource):
            if member in PUBLIC_MEMBERS:
                yield resource, f"{member} gets {role} on image repository {repository}"


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
