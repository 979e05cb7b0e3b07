"""What the controls read: resource type tokens, the declared resource, and reading its inputs.

Inputs are camelCase, as the engine (and the policy pack) sees them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# Resource type tokens (pulumi-gcp 10 / pulumi-kubernetes 4).
BUCKET = "gcp:storage/bucket:Bucket"
BUCKET_IAM = (
    "gcp:storage/bucketIAMMember:BucketIAMMember",
    "gcp:storage/bucketIAMBinding:BucketIAMBinding",
    "gcp:storage/bucketIAMPolicy:BucketIAMPolicy",
)
SQL_INSTANCE = "gcp:sql/databaseInstance:DatabaseInstance"
DATASET = "gcp:bigquery/dataset:Dataset"
TABLE = "gcp:bigquery/table:Table"
BIGQUERY_IAM = (
    "gcp:bigquery/datasetIamMember:DatasetIamMember",
    "gcp:bigquery/datasetIamBinding:DatasetIamBinding",
    "gcp:bigquery/datasetIamPolicy:DatasetIamPolicy",
    "gcp:bigquery/datasetAccess:DatasetAccess",
    "gcp:bigquery/iamMember:IamMember",
    "gcp:bigquery/iamBinding:IamBinding",
)
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
BINARY_AUTHORIZATION_POLICY = "gcp:binaryauthorization/policy:Policy"
ATTESTOR = "gcp:binaryauthorization/attestor:Attestor"
NETWORK = "gcp:compute/network:Network"
SUBNET = "gcp:compute/subnetwork:Subnetwork"
FIREWALL = "gcp:compute/firewall:Firewall"
GCP_PROJECT = "gcp:organizations/project:Project"
PROJECT_IAM = (
    "gcp:projects/iAMMember:IAMMember",
    "gcp:projects/iAMBinding:IAMBinding",
    "gcp:projects/iAMPolicy:IAMPolicy",
)
AUDIT_CONFIG = "gcp:projects/iAMAuditConfig:IAMAuditConfig"
SERVICE = "gcp:projects/service:Service"
SA_KEY = "gcp:serviceaccount/key:Key"
CRYPTO_KEY = "gcp:kms/cryptoKey:CryptoKey"
KMS_IAM = (
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
    "gcp:kms/cryptoKeyIAMBinding:CryptoKeyIAMBinding",
    "gcp:kms/keyRingIAMMember:KeyRingIAMMember",
    "gcp:kms/keyRingIAMBinding:KeyRingIAMBinding",
)
WIF_PROVIDER = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
SINK = "gcp:logging/projectSink:ProjectSink"
LOG_METRIC = "gcp:logging/metric:Metric"
ALERT_POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
DNS_POLICY = "gcp:dns/policy:Policy"
VERTEX_ENDPOINT = "gcp:vertex/aiEndpoint:AiEndpoint"
NAMESPACE = "kubernetes:core/v1:Namespace"
NAMESPACE_PATCH = "kubernetes:core/v1:NamespacePatch"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
K8S_SERVICE = "kubernetes:core/v1:Service"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
HTTP_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
BACKEND_POLICY = "kubernetes:networking.gke.io/v1:GCPBackendPolicy"
ROLE_BINDINGS = (
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
)
WORKLOADS = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:batch/v1:Job",
    "kubernetes:batch/v1:CronJob",
)

PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
BASIC_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
# Where each labelable resource type keeps its labels.
LABEL_PATHS: dict[str, str] = {
    BUCKET: "labels",
    DATASET: "labels",
    TABLE: "labels",
    SQL_INSTANCE: "settings.userLabels",
    CLUSTER: "resourceLabels",
    NODE_POOL: "nodeConfig.resourceLabels",
    CRYPTO_KEY: "labels",
    VERTEX_ENDPOINT: "labels",
    "gcp:compute/address:Address": "labels",
    "gcp:compute/globalAddress:GlobalAddress": "labels",
    "gcp:dns/managedZone:ManagedZone": "labels",
    ALERT_POLICY: "userLabels",
    "gcp:monitoring/notificationChannel:NotificationChannel": "userLabels",
    "gcp:secretmanager/secret:Secret": "labels",
    "gcp:artifactregistry/repository:Repository": "labels",
    "gcp:certificateauthority/caPool:CaPool": "labels",
    "gcp:certificateauthority/authority:Authority": "labels",
    "gcp:certificatemanager/certificate:Certificate": "labels",
    "gcp:certificatemanager/certificateIssuanceConfig:CertificateIssuanceConfig": "labels",
}
REQUIRED_LABELS = ("env", "team", "cost-center")


@dataclass(frozen=True)
class Resource:
    """One declared resource: type token, logical name, inputs (camelCase)."""

    type: str
    name: str
    props: Mapping[str, Any]


def pod_spec(resource: Resource) -> Mapping[str, Any]:
    """The pod spec of a workload resource (empty for other kinds)."""
    spec = resource.props.get("spec") or {}
    if resource.type.endswith(":CronJob"):
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    found = (spec.get("template") or {}).get("spec")
    return found if isinstance(found, Mapping) else {}


def containers(spec: Mapping[str, Any]) -> list[Any]:
    """The containers of a pod spec, init containers first."""
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def get(props: Mapping[str, Any] | None, path: str, default: Any = None) -> Any:
    """The value at dotted ``path`` (``settings.ipConfiguration.ipv4Enabled``), or ``default``."""
    value: Any = props
    for part in path.split("."):
        if isinstance(value, list) and len(value) == 1:
            value = value[0]  # nested blocks arrive as one-element lists from some providers
        if not isinstance(value, Mapping) or part not in value:
            return default
        value = value[part]
    return default if value is None else value


def project_names(props: Mapping[str, Any], kind: str) -> tuple[str, str]:
    """``NAME`` and ``projects/PROJECT/KIND/NAME``: both ways a reference names a project's
    resource of ``kind`` (``attestors``, ``notes``)."""
    name = str(props.get("name") or "")
    return name, f"projects/{props.get('project')}/{kind}/{name}"


def leaves(
    value: Any, fields: Callable[[Any], Mapping[str, Any] | None] = lambda _: None
) -> Iterator[Any]:
    """Every value nested in ``value``'s mappings, lists and tuples, depth first.

    ``fields`` opens other containers: the mapping it returns for an object is walked too.
    """
    opened = fields(value) if not isinstance(value, Mapping | list | tuple) else None
    if isinstance(value, Mapping) or opened is not None:
        for item in (value if opened is None else opened).values():
            yield from leaves(item, fields)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from leaves(item, fields)
    else:
        yield value


def iam_entries(resource: Resource) -> list[tuple[str, str]]:
    """(member, role) pairs an IAM resource grants (member, binding or policy resources)."""
    props = resource.props
    role = str(props.get("role", ""))
    if "member" in props:
        return [(str(props["member"]), role)]
    if "members" in props:
        return [(str(m), role) for m in props.get("members") or []]
    policy = props.get("policyData")
    if isinstance(policy, str):
        try:
            bindings = json.loads(policy).get("bindings", [])
        except (json.JSONDecodeError, AttributeError):
            return []
        return [(str(m), str(b.get("role", ""))) for b in bindings for m in b.get("members", [])]
    return []


def public_grants(resource: Resource, what: str) -> Iterator[str]:
    """A finding for each role an IAM resource grants to anyone (``allUsers``) on ``what``."""
    for member, role in iam_entries(resource):
        if member in PUBLIC_MEMBERS:
            yield f"{member} gets {role} on {what}"


def env_label(resource: Resource) -> str | None:
    """The ``env`` label of ``resource`` (where its type keeps labels), if any."""
    labels = get(resource.props, LABEL_PATHS.get(resource.type, "labels"))
    env = labels.get("env") if isinstance(labels, Mapping) else None
    return str(env) if env else None
