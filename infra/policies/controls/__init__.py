"""Security controls as plain functions over resource inputs (camelCase, as the engine sees them).

Each control cites its CIS id(s) (CIS Google Cloud Platform Foundations Benchmark v4.0 / v5.0 and
CIS GKE Benchmark v1.9.0) or, for controls beyond CIS, the checkov check it mirrors. The same
functions run in the Pulumi policy pack (``pulumi preview --policy-pack infra/policies``) and in the
offline audit (``mlops-kit infra audit``). Where the cloud's default is insecure, an omitted
attribute fails; where the default is secure, omitting it passes.

One module per benchmark section, as ``infra/components`` has one module per concern; this package
holds the registry of every control, in benchmark order. A section starts with its checklist of
the controls that one setting decides, a ``Setting`` row each; the controls that need code to
decide follow, a function each.
"""

from __future__ import annotations

from collections.abc import Sequence

from infra.policies.controls import (
    artifact_registry,
    bigquery,
    gke,
    iam,
    kubernetes,
    labels,
    logging_monitoring,
    networking,
    sql,
    storage,
    vertex,
)
from infra.policies.controls.registry import Control, ControlResult, Section, Violation
from infra.policies.controls.resources import (
    ALERT_POLICY,
    ATTESTOR,
    AUDIT_CONFIG,
    BACKEND_POLICY,
    BASIC_ROLES,
    BIGQUERY_IAM,
    BINARY_AUTHORIZATION_POLICY,
    BUCKET,
    BUCKET_IAM,
    CLUSTER,
    CRYPTO_KEY,
    DATASET,
    DNS_POLICY,
    FIREWALL,
    GATEWAY,
    GCP_PROJECT,
    HTTP_ROUTE,
    INGRESS,
    K8S_SERVICE,
    KMS_IAM,
    LABEL_PATHS,
    LOG_METRIC,
    NAMESPACE,
    NAMESPACE_PATCH,
    NETWORK,
    NETWORK_POLICY,
    NODE_POOL,
    PROJECT_IAM,
    PUBLIC_MEMBERS,
    REQUIRED_LABELS,
    ROLE_BINDINGS,
    SA_KEY,
    SERVICE,
    SINK,
    SQL_INSTANCE,
    SUBNET,
    TABLE,
    VERTEX_ENDPOINT,
    WIF_PROVIDER,
    WORKLOADS,
    Resource,
    env_label,
    get,
    iam_entries,
    pod_spec,
)

SECTIONS: tuple[Section, ...] = (
    iam.SECTION,
    logging_monitoring.SECTION,
    networking.SECTION,
    storage.SECTION,
    sql.SECTION,
    bigquery.SECTION,
    gke.SECTION,
    kubernetes.SECTION,
    artifact_registry.SECTION,
    vertex.SECTION,
    labels.SECTION,
)
"""The benchmark sections, in the order the audit reports them."""

CONTROLS: list[Control] = [control for section in SECTIONS for control in section.controls]
"""Every control, in benchmark order: one policy of the pack each."""


def evaluate_controls(
    resources: Sequence[Resource], controls: Sequence[Control] = CONTROLS
) -> list[ControlResult]:
    """Run every control on ``resources``."""
    results = []
    for control in controls:
        relevant = [r for r in resources if r.type in control.types]
        result = ControlResult(control, checked=len(relevant))
        if control.stack:
            # Stack controls about something that must exist are checked even without resources.
            result.checked = max(result.checked, 1)
            for resource, message in control.check(resources):
                result.violations.append(
                    Violation(
                        control.id,
                        control.cis,
                        resource.type if resource else None,
                        resource.name if resource else None,
                        message,
                    )
                )
        else:
            for resource in relevant:
                for message in control.check(resource):
                    result.violations.append(
                        Violation(control.id, control.cis, resource.type, resource.name, message)
                    )
        results.append(result)
    return results


__all__ = [
    "ALERT_POLICY",
    "ATTESTOR",
    "AUDIT_CONFIG",
    "BACKEND_POLICY",
    "BASIC_ROLES",
    "BIGQUERY_IAM",
    "BINARY_AUTHORIZATION_POLICY",
    "BUCKET",
    "BUCKET_IAM",
    "CLUSTER",
    "CONTROLS",
    "CRYPTO_KEY",
    "DATASET",
    "DNS_POLICY",
    "FIREWALL",
    "GATEWAY",
    "GCP_PROJECT",
    "HTTP_ROUTE",
    "INGRESS",
    "K8S_SERVICE",
    "KMS_IAM",
    "LABEL_PATHS",
    "LOG_METRIC",
    "NAMESPACE",
    "NAMESPACE_PATCH",
    "NETWORK",
    "NETWORK_POLICY",
    "NODE_POOL",
    "PROJECT_IAM",
    "PUBLIC_MEMBERS",
    "REQUIRED_LABELS",
    "ROLE_BINDINGS",
    "SA_KEY",
    "SECTIONS",
    "SERVICE",
    "SINK",
    "SQL_INSTANCE",
    "SUBNET",
    "TABLE",
    "VERTEX_ENDPOINT",
    "WIF_PROVIDER",
    "WORKLOADS",
    "Control",
    "ControlResult",
    "Resource",
    "Section",
    "Violation",
    "env_label",
    "evaluate_controls",
    "get",
    "iam_entries",
    "pod_spec",
]
