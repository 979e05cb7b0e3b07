"""Audit logging: data-access audit logs, an export to a locked bucket, and CIS change alerts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_gcp import logging, monitoring, projects, storage

from infra.components import child_options

# CIS GCP 2.4-2.11: a log-based metric and an alert for each of these changes (CIS filters).
CHANGE_ALERTS: dict[str, tuple[str, str]] = {
    "2.4": (
        "project-ownership-changes",
        '(protoPayload.serviceName="cloudresourcemanager.googleapis.com") AND '
        "(ProjectOwnership OR projectOwnerInvitee) OR "
        '(protoPayload.serviceData.policyDelta.bindingDeltas.action="REMOVE" AND '
        'protoPayload.serviceData.policyDelta.bindingDeltas.role="roles/owner") OR '
        '(protoPayload.serviceData.policyDelta.bindingDeltas.action="ADD" AND '
        'protoPayload.serviceData.policyDelta.bindingDeltas.role="roles/owner")',
    ),
    "2.5": (
        "audit-config-changes",
        'protoPayload.methodName="SetIamPolicy" AND '
        "protoPayload.serviceData.policyDelta.auditConfigDeltas:*",
    ),
    "2.6": (
        "custom-role-changes",
        'resource.type="iam_role" AND (protoPayload.methodName="google.iam.admin.v1.CreateRole" '
        'OR protoPayload.methodName="google.iam.admin.v1.DeleteRole" '
        'OR protoPayload.methodName="google.iam.admin.v1.UpdateRole")',
    ),
    "2.7": (
        "firewall-changes",
        'resource.type="gce_firewall_rule" AND '
        '(protoPayload.methodName:"compute.firewalls.patch" '
        'OR protoPayload.methodName:"compute.firewalls.insert" '
        'OR protoPayload.methodName:"compute.firewalls.delete")',
    ),
    "2.8": (
        "route-changes",
        'resource.type="gce_route" AND (protoPayload.methodName:"compute.routes.delete" '
        'OR protoPayload.methodName:"compute.routes.insert")',
    ),
    "2.9": (
        "network-changes",
        'resource.type="gce_network" AND (protoPayload.methodName:"compute.networks.insert" '
        'OR protoPayload.methodName:"compute.networks.patch" '
        'OR protoPayload.methodName:"compute.networks.delete" '
        'OR protoPayload.methodName:"compute.networks.removePeering" '
        'OR protoPayload.methodName:"compute.networks.addPeering")',
    ),
    "2.10": (
        "bucket-iam-changes",
        'resource.type="gcs_bucket" AND protoPayload.methodName="storage.setIamPermissions"',
    ),
    "2.11": ("sql-instance-changes", 'protoPayload.methodName="cloudsql.instances.update"'),
}


@dataclass(frozen=True)
class AuditLoggingArgs:
    """Inputs of :class:`AuditLogging`."""

    project: str
    """Project whose logs are configured."""
    bucket_name: str
    """Bucket that receives the exported log entries."""
    location: str
    """Location of that bucket."""
    retention_days: int
    """Locked retention of exported logs (Bucket Lock: it can be raised, never lowered)."""
    notification_channels: pulumi.Input[Sequence[pulumi.Input[str]]] = ()
    """Monitoring notification channels of the change alerts."""
    kms_key: pulumi.Input[str] | None = None
    """Cloud KMS key of the log bucket (CMEK)."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of the bucket and alert policies."""


class AuditLogging(pulumi.ComponentResource):
    """CIS GCP section 2 for the environment's project."""

    bucket_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: AuditLoggingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops-kit:gcp:AuditLogging", name, None, opts)
        child = child_options(self, opts)
        # Data access is audited for every service, with no exempted principal (CIS 2.1).
        projects.IAMAuditConfig(
            f"{name}-all-services",
            project=args.project,
            service="allServices",
            audit_log_configs=[
                projects.IAMAuditConfigAuditLogConfigArgs(log_type=log_type)
                for log_type in ("ADMIN_READ", "DATA_READ", "DATA_WRITE")
            ],
            opts=child,
        )
        # Versioning is off: GCS forbids it together with a retention policy, which is stronger.
        bucket = storage.Bucket(
            f"{name}-bucket",
            name=args.bucket_name,
            location=args.location,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            retention_policy=storage.BucketRetentionPolicyArgs(
                retention_period=str(args.retention_days * 86400), is_locked=True
            ),
            soft_delete_policy=storage.BucketSoftDeletePolicyArgs(
                retention_duration_seconds=7 * 86400
            ),
            lifecycle_rules=[
                storage.BucketLifecycleRuleArgs(
                    action=storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=storage.BucketLifecycleRuleConditionArgs(age=args.retention_days + 1),
                )
            ],
            encryption=(
                storage.BucketEncryptionArgs(default_kms_key_name=args.kms_key)
                if args.kms_key is not None
                else None
            ),
            force_destroy=False,
            labels=args.labels,
            opts=child_options(self, opts, protect=True),
        )
        # An empty filter exports every log entry (CIS 2.2).
        sink = logging.ProjectSink(
            f"{name}-sink",
            name=f"{name}-all-logs",
            project=args.project,
            destination=pulumi.Output.concat("storage.googleapis.com/", bucket.name),
            filter="",
            unique_writer_identity=True,
            opts=child,
        )
        storage.BucketIAMMember(
            f"{name}-sink-writer",
            bucket=bucket.name,
            role="roles/storage.objectCreator",
            member=sink.writer_identity,
            opts=child,
        )
        for cis_id, (slug, log_filter) in CHANGE_ALERTS.items():
            metric_name = f"{name}-{slug}"
            metric = logging.Metric(
                f"{name}-{slug}",
                name=metric_name,
                project=args.project,
                filter=log_filter,
                description=f"CIS GCP {cis_id}: {slug.replace('-', ' ')}",
                metric_descriptor=logging.MetricMetricDescriptorArgs(
                    metric_kind="DELTA", value_type="INT64"
                ),
                opts=child,
            )
            monitoring.AlertPolicy(
                f"{name}-{slug}-alert",
                display_name=f"CIS {cis_id}: {slug.replace('-', ' ')}",
                project=args.project,
                combiner="OR",
                conditions=[
                    monitoring.AlertPolicyConditionArgs(
                        display_name=slug,
                        condition_threshold=monitoring.AlertPolicyConditionConditionThresholdArgs(
                            filter=metric.name.apply(
                                lambda metric_name: (
                                    f'metric.type="logging.googleapis.com/user/{metric_name}"'
                                )
                            ),
                            comparison="COMPARISON_GT",
                            threshold_value=0,
                            duration="0s",
                            aggregations=[
                                monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                                    alignment_period="60s", per_series_aligner="ALIGN_COUNT"
                                )
                            ],
                        ),
                    )
                ],
                notification_channels=args.notification_channels,
                user_labels=args.labels,
                opts=child,
            )
        self.bucket_name = bucket.name
        self.register_outputs({"bucket_name": self.bucket_name})
