"""CIS GCP section 5: Cloud Storage."""

from __future__ import annotations

import re
from collections.abc import Iterator

from infra.policies.controls.registry import Section, Setting
from infra.policies.controls.resources import (
    BUCKET,
    BUCKET_IAM,
    Resource,
    env_label,
    get,
    iam_entries,
    public_grants,
)

SECTION = Section("CIS GCP 5: Cloud Storage")

SECTION.settings(
    Setting(
        "gcs-uniform-access",
        ["CIS GCP 5.2"],
        "Uniform bucket-level access",
        BUCKET,
        "uniformBucketLevelAccess",
        must_be=True,
        problem="uniformBucketLevelAccess is off: object ACLs can grant access",
    ),
    Setting(
        "gcs-cmek",
        ["hardening (CMEK)"],
        "Buckets default to customer-managed keys",
        BUCKET,
        "encryption.defaultKmsKeyName",
        problem="no encryption.defaultKmsKeyName: objects use Google-managed keys (CMEK)",
    ),
)


@SECTION.resource_control(
    "gcs-not-public",
    ["CIS GCP 5.1"],
    "Buckets are not anonymously or publicly accessible",
    BUCKET,
    *BUCKET_IAM,
)
def gcs_not_public(resource: Resource) -> Iterator[str]:
    if resource.type == BUCKET:
        if resource.props.get("publicAccessPrevention") != "enforced":
            yield "publicAccessPrevention is not 'enforced'"
        return
    yield from public_grants(resource, "the bucket")


@SECTION.resource_control(
    "gcs-versioning",
    ["checkov CKV_GCP_78"],
    "Object versioning (unless a retention policy locks objects)",
    BUCKET,
)
def gcs_versioning(resource: Resource) -> Iterator[str]:
    # GCS forbids versioning together with a retention policy, which already prevents overwrites.
    if get(resource.props, "retentionPolicy.retentionPeriod"):
        return
    if get(resource.props, "versioning.enabled") is not True:
        yield "object versioning is off: an overwritten model artifact is lost"


@SECTION.resource_control(
    "gcs-soft-delete", ["registry hygiene"], "Soft delete kept at 7 days or more", BUCKET
)
def gcs_soft_delete(resource: Resource) -> Iterator[str]:
    seconds = get(resource.props, "softDeletePolicy.retentionDurationSeconds")
    if seconds is not None and float(seconds) < 604800:
        yield f"soft-delete retention {seconds}s is below 7 days (604800s)"


@SECTION.resource_control(
    "gcs-no-force-destroy", ["registry hygiene"], "No force_destroy outside dev", BUCKET
)
def gcs_no_force_destroy(resource: Resource) -> Iterator[str]:
    if resource.props.get("forceDestroy") is True and env_label(resource) != "dev":
        yield "forceDestroy=true outside dev: `pulumi destroy` would delete every object"


# Kubeflow's system account (``<prefix>-kfp@``): its UI previews artifacts, it never writes them.
READ_ROLES = frozenset({"roles/storage.objectViewer", "roles/storage.legacyObjectReader"})


@SECTION.resource_control(
    "gcs-kfp-reads-only",
    ["hardening (least privilege)"],
    "Kubeflow's system account only reads buckets (pipeline steps write as the runner)",
    *BUCKET_IAM,
)
def gcs_kfp_reads_only(resource: Resource) -> Iterator[str]:
    for member, role in iam_entries(resource):
        if re.search(r"-kfp@[^@]+\.iam\.gserviceaccount\.com$", member) and role not in READ_ROLES:
            yield f"{member} gets {role}: Kubeflow's own account only needs objectViewer"
