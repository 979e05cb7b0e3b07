"""CIS GCP section 7: BigQuery."""

from __future__ import annotations

from collections.abc import Iterator

from infra.policies.controls.registry import Section, Setting
from infra.policies.controls.resources import (
    BIGQUERY_IAM,
    DATASET,
    PUBLIC_MEMBERS,
    TABLE,
    Resource,
    public_grants,
)

SECTION = Section("CIS GCP 7: BigQuery")

SECTION.settings(
    Setting(
        "bigquery-table-cmek",
        ["CIS GCP 7.2"],
        "Tables encrypted with customer-managed keys",
        TABLE,
        "encryptionConfiguration.kmsKeyName",
        problem="no encryptionConfiguration.kmsKeyName (CMEK)",
    ),
    Setting(
        "bigquery-dataset-cmek",
        ["CIS GCP 7.3"],
        "Datasets default to customer-managed keys",
        DATASET,
        "defaultEncryptionConfiguration.kmsKeyName",
        problem="no defaultEncryptionConfiguration.kmsKeyName (CMEK)",
    ),
    Setting(
        "bigquery-table-deletion-protection",
        ["checkov CKV_GCP_121"],
        "Tables have deletion protection",
        TABLE,
        "deletionProtection",
        must_not_be=False,
        problem="deletionProtection=false",
    ),
)


@SECTION.resource_control(
    "bigquery-not-public",
    ["CIS GCP 7.1"],
    "Datasets are not anonymously or publicly accessible",
    DATASET,
    *BIGQUERY_IAM,
)
def bigquery_not_public(resource: Resource) -> Iterator[str]:
    # A dataset's access list and a DatasetAccess name principals by specialGroup or iamMember;
    # the IAM resources by member(s) or policy bindings.
    entries = resource.props.get("accesses") or [] if resource.type == DATASET else [resource.props]
    for entry in entries:
        for key in ("specialGroup", "iamMember"):
            if entry.get(key) in PUBLIC_MEMBERS:
                yield f"{entry[key]} can access the dataset ({entry.get('role')})"
    if resource.type != DATASET:
        yield from public_grants(resource, "BigQuery data")


@SECTION.resource_control(
    "bigquery-versions-never-expire",
    ["data versioning"],
    "Version tables: ingestion-time partitions, partition filter required, no expiry",
    DATASET,
    TABLE,
)
def bigquery_versions_never_expire(resource: Resource) -> Iterator[str]:
    props = resource.props
    if resource.type == DATASET:
        for key in ("defaultPartitionExpirationMs", "defaultTableExpirationMs"):
            if props.get(key):
                yield f"{key} is set: expiry silently deletes data versions"
        return
    partitioning = props.get("timePartitioning")
    if not partitioning or partitioning.get("field"):
        return  # not an ingestion-time (version) table
    if props.get("requirePartitionFilter") is not True:
        yield "version table without requirePartitionFilter: a query may scan every version"
    if partitioning.get("expirationMs") or props.get("expirationTime"):
        yield "version table expires: old data versions would be deleted"
