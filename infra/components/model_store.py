"""Model store: the GCS bucket of model artifacts and pipeline roots."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
from pulumi_gcp import storage

from infra.components import child_options


@dataclass(frozen=True)
class ModelStoreArgs:
    """Inputs of :class:`ModelStore`."""

    bucket_name: str
    """Globally unique bucket name."""
    location: str
    """Region or multi-region of the bucket."""
    grants: Mapping[str, tuple[pulumi.Input[str], str]]
    """Workload → (IAM member, role) granted on this bucket (never a project role)."""
    nearline_after_days: int = 30
    """Age in days at which objects move STANDARD → NEARLINE."""
    coldline_after_days: int = 90
    """Age in days at which objects move NEARLINE → COLDLINE."""
    archive_after_days: int = 365
    """Age in days at which objects move COLDLINE → ARCHIVE."""
    noncurrent_versions_kept: int = 3
    """A noncurrent version is deleted once this many newer versions exist."""
    noncurrent_days_kept: int = 90
    """A noncurrent version is deleted this many days after it was replaced."""
    soft_delete_days: int = 7
    """Soft-delete retention; GCS's default of 7 days is the minimum we accept."""
    object_retention: bool = False
    """Enable Object Retention Lock: writers may make single objects immutable until a date.
    (A bucket-wide retention policy is not offered: GCS forbids it together with versioning.)"""
    force_destroy: bool = False
    """Delete a non-empty bucket on destroy; only for dev (the config refuses it elsewhere)."""
    kms_key: pulumi.Input[str] | None = None
    """Cloud KMS key for new objects (CMEK); ``None`` uses Google-managed keys."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of the bucket."""


def _move(age: int, source: str, target: str) -> storage.BucketLifecycleRuleArgs:
    return storage.BucketLifecycleRuleArgs(
        action=storage.BucketLifecycleRuleActionArgs(type="SetStorageClass", storage_class=target),
        condition=storage.BucketLifecycleRuleConditionArgs(
            age=age, matches_storage_classes=[source], with_state="LIVE"
        ),
    )


class ModelStore(pulumi.ComponentResource):
    """A private, versioned bucket whose objects age into cheaper storage classes."""

    bucket_name: pulumi.Output[str]
    url: pulumi.Output[str]

    def __init__(
        self, name: str, args: ModelStoreArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops-kit:gcp:ModelStore", name, None, opts)
        child = child_options(self, opts)
        lifecycle = [
            _move(args.nearline_after_days, "STANDARD", "NEARLINE"),
            _move(args.coldline_after_days, "NEARLINE", "COLDLINE"),
            _move(args.archive_after_days, "COLDLINE", "ARCHIVE"),
            storage.BucketLifecycleRuleArgs(
                action=storage.BucketLifecycleRuleActionArgs(type="Delete"),
                condition=storage.BucketLifecycleRuleConditionArgs(
                    num_newer_versions=args.noncurrent_versions_kept, with_state="ARCHIVED"
                ),
            ),
            storage.BucketLifecycleRuleArgs(
                action=storage.BucketLifecycleRuleActionArgs(type="Delete"),
                condition=storage.BucketLifecycleRuleConditionArgs(
                    days_since_noncurrent_time=args.noncurrent_days_kept, with_state="ARCHIVED"
                ),
            ),
        ]
        self.bucket = storage.Bucket(
            f"{name}-bucket",
            name=args.bucket_name,
            location=args.location,
            storage_class="STANDARD",
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=storage.BucketVersioningArgs(enabled=True),
            soft_delete_policy=storage.BucketSoftDeletePolicyArgs(
                retention_duration_seconds=args.soft_delete_days * 86400
            ),
            lifecycle_rules=lifecycle,
            enable_object_retention=args.object_retention or None,
            encryption=(
                storage.BucketEncryptionArgs(default_kms_key_name=args.kms_key)
                if args.kms_key is not None
                else None
            ),
            force_destroy=args.force_destroy,
            labels=args.labels,
            # Outside dev the bucket holds every released model: pulumi must refuse to delete it.
            opts=child_options(self, opts, protect=not args.force_destroy),
        )
        for workload, (member, role) in sorted(args.grants.items()):
            storage.BucketIAMMember(
                f"{name}-{workload}",
                bucket=self.bucket.name,
                role=role,
                member=member,
                opts=child,
            )
        self.bucket_name = self.bucket.name
        self.url = self.bucket.url
        self.register_outputs({"bucket_name": self.bucket_name, "url": self.url})
