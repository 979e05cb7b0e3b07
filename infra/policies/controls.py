"""Security controls as plain functions over resource inputs (camelCase, as the engine sees them).

Each control cites its CIS id(s) (CIS Google Cloud Platform Foundations Benchmark v4.0 / v5.0 and
CIS GKE Benchmark v1.9.0) or, for controls beyond CIS, the checkov check it mirrors. The same
functions run in the Pulumi policy pack (``pulumi preview --policy-pack infra/policies``) and in the
offline audit (``mlops-kit infra audit``). Where the cloud's default is insecure, an omitted
attribute fails; where the default is secure, omitting it passes.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
NAMESPACE = "kubernetes:core/v1:Namespace"
NAMESPACE_PATCH = "kubernetes:core/v1:NamespacePatch"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"

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
    "gcp:compute/address:Address": "labels",
    "gcp:compute/globalAddress:GlobalAddress": "labels",
    "gcp:dns/managedZone:ManagedZone": "labels",
    ALERT_POLICY: "userLabels",
    "gcp:monitoring/notificationChannel:NotificationChannel": "userLabels",
    "gcp:secretmanager/secret:Secret": "labels",
    "gcp:artifactregistry/repository:Repository": "labels",
}
REQUIRED_LABELS = ("env", "team", "cost-center")


@dataclass(frozen=True)
class Resource:
    """One declared resource: type token, logical name, inputs (camelCase)."""

    type: str
    name: str
    props: Mapping[str, Any]


@dataclass(frozen=True)
class Control:
    """A control: its id, the benchmark ids it implements, and the function that checks it.

    A resource control's ``check`` takes one :class:`Resource` and yields violation messages; a
    stack control's takes every resource and yields ``(resource or None, message)`` pairs.
    """

    id: str
    cis: tuple[str, ...]
    title: str
    types: tuple[str, ...]
    check: Callable[..., Iterable[Any]]
    stack: bool = False

    def applies_to(self, resource: Resource) -> bool:
        """Whether this (resource) control checks ``resource``."""
        return resource.type in self.types


CONTROLS: list[Control] = []


def resource_control(
    id_: str, cis: Sequence[str], title: str, *types: str
) -> Callable[[Callable[[Resource], Iterator[str]]], Callable[[Resource], Iterator[str]]]:
    """Register a function ``(resource) -> messages`` as a control of ``types``."""

    def register(fn: Callable[[Resource], Iterator[str]]) -> Callable[[Resource], Iterator[str]]:
        CONTROLS.append(Control(id_, tuple(cis), title, types, fn))
        return fn

    return register


def stack_control(
    id_: str, cis: Sequence[str], title: str, *types: str
) -> Callable[[Callable[..., Iterator[Any]]], Callable[..., Iterator[Any]]]:
    """Register a function ``(resources) -> (resource | None, message)`` as a stack control."""

    def register(fn: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        CONTROLS.append(Control(id_, tuple(cis), title, types, fn, stack=True))
        return fn

    return register


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


def _env(resource: Resource) -> str | None:
    """The ``env`` label of ``resource`` (where its type keeps labels), if any."""
    labels = get(resource.props, LABEL_PATHS.get(resource.type, "labels"))
    env = labels.get("env") if isinstance(labels, Mapping) else None
    return str(env) if env else None


# --- CIS GCP section 1: IAM and KMS ---------------------------------------------------------


@resource_control(
    "iam-no-service-account-keys",
    ["CIS GCP 1.4 (v5 1.5)"],
    "Only Google-managed service-account keys",
    SA_KEY,
)
def no_service_account_keys(resource: Resource) -> Iterator[str]:
    yield "user-managed service-account key declared: use Workload Identity or impersonation"


ADMIN_ROLE = re.compile(r"(admin|Admin)$|^roles/(editor|owner)$")


@resource_control(
    "iam-service-account-not-admin",
    ["CIS GCP 1.5 (v5 1.6)"],
    "Service accounts hold no admin roles on the project",
    *PROJECT_IAM,
)
def service_account_not_admin(resource: Resource) -> Iterator[str]:
    for member, role in iam_entries(resource):
        if member.startswith("serviceAccount:") and ADMIN_ROLE.search(role):
            yield f"{member} gets admin role {role} on the project"


@resource_control(
    "iam-no-project-sa-user",
    ["CIS GCP 1.6 (v5 1.7)"],
    "No Service Account User / Token Creator at project level",
    *PROJECT_IAM,
)
def no_project_service_account_user(resource: Resource) -> Iterator[str]:
    for member, role in iam_entries(resource):
        if role in ("roles/iam.serviceAccountUser", "roles/iam.serviceAccountTokenCreator"):
            yield f"{member} gets {role} on the whole project: grant it on one service account"


def _separation(
    resources: Sequence[Resource], first: str, second: str
) -> Iterator[tuple[Resource | None, str]]:
    roles: dict[str, set[str]] = {}
    for resource in resources:
        if resource.type in PROJECT_IAM:
            for member, role in iam_entries(resource):
                roles.setdefault(member, set()).add(role)
    for member, held in sorted(roles.items()):
        if {first, second} <= held:
            yield None, f"{member} holds both {first} and {second}"


@stack_control(
    "iam-separation-of-duties-service-accounts",
    ["CIS GCP 1.8 (v5 1.9)"],
    "No principal is both Service Account Admin and User",
    *PROJECT_IAM,
)
def separation_of_duties_service_accounts(
    resources: Sequence[Resource],
) -> Iterator[tuple[Resource | None, str]]:
    yield from _separation(
        resources, "roles/iam.serviceAccountAdmin", "roles/iam.serviceAccountUser"
    )


@stack_control(
    "iam-separation-of-duties-kms",
    ["CIS GCP 1.11 (v5 1.12)"],
    "No principal is both KMS Admin and Encrypter/Decrypter",
    *PROJECT_IAM,
)
def separation_of_duties_kms(
    resources: Sequence[Resource],
) -> Iterator[tuple[Resource | None, str]]:
    yield from _separation(
        resources, "roles/cloudkms.admin", "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    )


@resource_control(
    "kms-keys-not-public",
    ["CIS GCP 1.9 (v5 1.10)"],
    "KMS keys are not anonymously or publicly accessible",
    *KMS_IAM,
)
def kms_keys_not_public(resource: Resource) -> Iterator[str]:
    for member, role in iam_entries(resource):
        if member in PUBLIC_MEMBERS:
            yield f"{member} gets {role} on a KMS key"


@resource_control(
    "kms-key-rotation",
    ["CIS GCP 1.10 (v5 1.11)"],
    "KMS keys rotate at least every 90 days",
    CRYPTO_KEY,
)
def kms_key_rotation(resource: Resource) -> Iterator[str]:
    period = str(resource.props.get("rotationPeriod") or "")
    match = re.fullmatch(r"(\d+(?:\.\d+)?)s", period)
    if match is None:
        yield "no rotationPeriod: keys never rotate (set at most 7776000s)"
    elif not 86400 <= float(match.group(1)) <= 7776000:
        yield f"rotationPeriod {period} is outside 86400s-7776000s (1-90 days)"


@resource_control(
    "iam-no-basic-roles",
    ["checkov CKV_GCP_117"],
    "No basic roles (owner, editor, viewer) on the project",
    *PROJECT_IAM,
)
def no_basic_roles(resource: Resource) -> Iterator[str]:
    for member, role in iam_entries(resource):
        if role in BASIC_ROLES:
            yield f"{member} gets basic role {role}: grant predefined roles on the resource"


@resource_control(
    "iam-no-default-service-accounts",
    ["checkov CKV_GCP_46"],
    "Default compute/App Engine service accounts get no project roles",
    *PROJECT_IAM,
)
def no_default_service_accounts(resource: Resource) -> Iterator[str]:
    for member, role in iam_entries(resource):
        if member.endswith(
            ("-compute@developer.gserviceaccount.com", "@appspot.gserviceaccount.com")
        ):
            yield f"default service account {member} gets {role}"


@resource_control(
    "iam-federation-restricted",
    ["hardening (keyless CI)"],
    "Workload Identity Federation providers accept only named repositories",
    WIF_PROVIDER,
)
def federation_restricted(resource: Resource) -> Iterator[str]:
    condition = str(resource.props.get("attributeCondition") or "")
    if not condition.strip():
        yield "no attributeCondition: every identity of the issuer (any GitHub repository) is accepted"
    elif "github" in str(get(resource.props, "oidc.issuerUri", "")) and not re.search(
        r"assertion\.repository\b", condition
    ):
        yield "the condition does not name repositories (assertion.repository)"


# --- CIS GCP section 2: logging and monitoring ----------------------------------------------


@stack_control(
    "logging-audit-all-services",
    ["CIS GCP 2.1"],
    "Data Access audit logs for all services, no exemptions",
    AUDIT_CONFIG,
)
def audit_all_services(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    complete = False
    for resource in resources:
        if resource.type != AUDIT_CONFIG:
            continue
        configs = resource.props.get("auditLogConfigs") or []
        for config in configs:
            if config.get("exemptedMembers"):
                yield (
                    resource,
                    f"audit log type {config.get('logType')} exempts {config['exemptedMembers']}",
                )
        types = {c.get("logType") for c in configs}
        if resource.props.get("service") == "allServices" and {"DATA_READ", "DATA_WRITE"} <= types:
            complete = True
    if not complete:
        yield None, "no IAMAuditConfig for allServices with DATA_READ and DATA_WRITE"


@stack_control(
    "logging-sink-all-entries", ["CIS GCP 2.2 (v5 2.3)"], "A sink exports all log entries", SINK
)
def sink_all_entries(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    sinks = [r for r in resources if r.type == SINK and not r.props.get("disabled")]
    if not any(not (r.props.get("filter") or "").strip() for r in sinks):
        yield None, "no enabled log sink with an empty filter (all log entries)"


@stack_control(
    "logging-export-bucket-locked",
    ["CIS GCP 2.3 (v5 2.4)"],
    "Log-export buckets have a locked retention policy",
    SINK,
    BUCKET,
)
def export_bucket_locked(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    buckets = {str(r.props.get("name") or r.name): r for r in resources if r.type == BUCKET}
    for sink in (r for r in resources if r.type == SINK):
        destination = str(sink.props.get("destination") or "")
        if not destination.startswith("storage.googleapis.com/"):
            continue
        bucket = buckets.get(destination.removeprefix("storage.googleapis.com/"))
        if bucket is None:
            continue  # a bucket of another stack: its own stack is audited
        if not get(bucket.props, "retentionPolicy.retentionPeriod", 0) or not get(
            bucket.props, "retentionPolicy.isLocked", False
        ):
            yield bucket, "log-export bucket has no locked retention policy (Bucket Lock)"


# Distinctive parts of the CIS filters of 2.4-2.11 (v5 2.5-2.12).
CHANGE_ALERT_FILTERS: dict[str, str] = {
    "2.4": "roles/owner",
    "2.5": "auditConfigDeltas",
    "2.6": 'resource.type="iam_role"',
    "2.7": 'resource.type="gce_firewall_rule"',
    "2.8": 'resource.type="gce_route"',
    "2.9": 'resource.type="gce_network"',
    "2.10": "storage.setIamPermissions",
    "2.11": "cloudsql.instances.update",
}


@stack_control(
    "logging-change-alerts",
    ["CIS GCP 2.4-2.11 (v5 2.5-2.12)"],
    "Log metric and alert for ownership, audit, role, firewall, route, network, bucket-IAM and SQL changes",
    LOG_METRIC,
    ALERT_POLICY,
)
def change_alerts(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    alert_filters = " ".join(
        json.dumps(r.props.get("conditions") or []) for r in resources if r.type == ALERT_POLICY
    )
    metrics = [r for r in resources if r.type == LOG_METRIC]
    for cis_id, fragment in CHANGE_ALERT_FILTERS.items():
        matching = [m for m in metrics if fragment in str(m.props.get("filter") or "")]
        if not matching:
            yield None, f"CIS {cis_id}: no log-based metric filtering on {fragment}"
        elif not any(
            f"logging.googleapis.com/user/{m.props.get('name') or m.name}" in alert_filters
            for m in matching
        ):
            yield matching[0], f"CIS {cis_id}: metric has no alert policy"


@stack_control(
    "dns-logging", ["CIS GCP 2.12 (v5 2.13)"], "Cloud DNS logging on every VPC", NETWORK, DNS_POLICY
)
def dns_logging(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    logged = " ".join(
        json.dumps(r.props.get("networks") or [])
        for r in resources
        if r.type == DNS_POLICY and r.props.get("enableLogging") is True
    )
    for network in (r for r in resources if r.type == NETWORK):
        name = str(network.props.get("name") or network.name)
        if f'/{name}"' not in logged and f"/{name}/" not in logged:
            yield network, f"VPC {name} has no DNS policy with enableLogging"


@stack_control(
    "asset-inventory-enabled",
    ["CIS GCP 2.13 (v5 2.14)"],
    "Cloud Asset Inventory is enabled",
    SERVICE,
)
def asset_inventory(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    if not any(
        r.type == SERVICE and r.props.get("service") == "cloudasset.googleapis.com"
        for r in resources
    ):
        yield None, "cloudasset.googleapis.com is not enabled"


# --- CIS GCP section 3: networking ----------------------------------------------------------


@resource_control(
    "network-no-default",
    ["CIS GCP 3.1"],
    "The default network does not exist",
    GCP_PROJECT,
    NETWORK,
)
def no_default_network(resource: Resource) -> Iterator[str]:
    if resource.type == GCP_PROJECT and resource.props.get("autoCreateNetwork") is not False:
        yield "project creates the default network: set autoCreateNetwork=false"
    if resource.type == NETWORK and (resource.props.get("name") or resource.name) == "default":
        yield "a network named 'default' is declared"


@resource_control(
    "network-custom-mode", ["CIS GCP 3.2"], "No legacy or auto-mode networks", NETWORK
)
def custom_mode_network(resource: Resource) -> Iterator[str]:
    if resource.props.get("autoCreateSubnetworks") is not False:
        yield "auto-mode network: set autoCreateSubnetworks=false (custom mode)"


def _open_to_internet(resource: Resource, port: int) -> bool:
    props = resource.props
    if (props.get("direction") or "INGRESS") != "INGRESS" or props.get("disabled"):
        return False
    sources = props.get("sourceRanges")
    if not sources and not props.get("sourceTags") and not props.get("sourceServiceAccounts"):
        sources = ["0.0.0.0/0"]  # GCP's default source for an ingress rule
    if not any(s in ("0.0.0.0/0", "::/0") for s in sources or []):
        return False
    for allow in props.get("allows") or []:
        if allow.get("protocol") not in ("tcp", "all"):
            continue
        ports = allow.get("ports") or ["0-65535"]
        for spec in ports:
            low, _, high = str(spec).partition("-")
            if int(low) <= port <= int(high or low):
                return True
    return False


@resource_control(
    "firewall-no-public-ssh", ["CIS GCP 3.6"], "SSH is not open to the internet", FIREWALL
)
def no_public_ssh(resource: Resource) -> Iterator[str]:
    if _open_to_internet(resource, 22):
        yield "ingress to tcp/22 from 0.0.0.0/0: allow the IAP range 35.235.240.0/20 only"


@resource_control(
    "firewall-no-public-rdp", ["CIS GCP 3.7"], "RDP is not open to the internet", FIREWALL
)
def no_public_rdp(resource: Resource) -> Iterator[str]:
    if _open_to_internet(resource, 3389):
        yield "ingress to tcp/3389 from 0.0.0.0/0"


@resource_control(
    "subnet-flow-logs",
    ["CIS GCP 3.8 (v5 3.10)"],
    "VPC Flow Logs on every subnet, at CIS values",
    SUBNET,
)
def subnet_flow_logs(resource: Resource) -> Iterator[str]:
    config = resource.props.get("logConfig")
    if not config:
        yield "no flow logs (logConfig)"
        return
    expected = {
        "aggregationInterval": "INTERVAL_5_SEC",
        "flowSampling": 1,
        "metadata": "INCLUDE_ALL_METADATA",
    }
    for key, value in expected.items():
        if config.get(key) != value:
            yield f"logConfig.{key} is {config.get(key)!r}, CIS expects {value!r}"


@resource_control(
    "subnet-private-google-access",
    ["checkov CKV_GCP_74"],
    "Private Google Access on subnets",
    SUBNET,
)
def subnet_private_google_access(resource: Resource) -> Iterator[str]:
    if resource.props.get("privateIpGoogleAccess") is not True:
        yield "privateIpGoogleAccess is off: private nodes cannot reach GCS/BigQuery"


# --- CIS GCP section 5: Cloud Storage ------------------------------------------------------


@resource_control(
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
    for member, role in iam_entries(resource):
        if member in PUBLIC_MEMBERS:
            yield f"{member} gets {role} on the bucket"


@resource_control("gcs-uniform-access", ["CIS GCP 5.2"], "Uniform bucket-level access", BUCKET)
def gcs_uniform_access(resource: Resource) -> Iterator[str]:
    if resource.props.get("uniformBucketLevelAccess") is not True:
        yield "uniformBucketLevelAccess is off: object ACLs can grant access"


@resource_control(
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


@resource_control(
    "gcs-soft-delete", ["registry hygiene"], "Soft delete kept at 7 days or more", BUCKET
)
def gcs_soft_delete(resource: Resource) -> Iterator[str]:
    seconds = get(resource.props, "softDeletePolicy.retentionDurationSeconds")
    if seconds is not None and float(seconds) < 604800:
        yield f"soft-delete retention {seconds}s is below 7 days (604800s)"


@resource_control(
    "gcs-no-force-destroy", ["registry hygiene"], "No force_destroy outside dev", BUCKET
)
def gcs_no_force_destroy(resource: Resource) -> Iterator[str]:
    if resource.props.get("forceDestroy") is True and _env(resource) != "dev":
        yield "forceDestroy=true outside dev: `pulumi destroy` would delete every object"


# --- CIS GCP section 6: Cloud SQL ----------------------------------------------------------


def _flags(resource: Resource) -> dict[str, str]:
    return {
        str(f.get("name")): str(f.get("value"))
        for f in get(resource.props, "settings.databaseFlags", []) or []
    }


def _engine(resource: Resource) -> str:
    return str(resource.props.get("databaseVersion") or "").split("_")[0]


def _flag_control(
    id_: str, cis: str, engine: str, flag: str, allowed: Sequence[str], default_ok: bool
) -> None:
    def check(resource: Resource) -> Iterator[str]:
        if _engine(resource) != engine:
            return
        value = _flags(resource).get(flag)
        if value is None:
            if not default_ok:
                yield f"database flag {flag} is not set (Cloud SQL's default is insecure)"
        elif value.lower() not in allowed:
            yield f"database flag {flag}={value}, expected one of {', '.join(allowed)}"

    check.__name__ = id_.replace("-", "_")
    check.__doc__ = f"{cis}: {engine} flag {flag} in {allowed}."
    CONTROLS.append(
        Control(
            id_, (cis,), f"{engine} flag {flag} set to {'/'.join(allowed)}", (SQL_INSTANCE,), check
        )
    )


for _args in (
    (
        "sql-pg-log-error-verbosity",
        "CIS GCP 6.2.1",
        "POSTGRES",
        "log_error_verbosity",
        ("default", "terse"),
        True,
    ),
    ("sql-pg-log-connections", "CIS GCP 6.2.2", "POSTGRES", "log_connections", ("on",), False),
    (
        "sql-pg-log-disconnections",
        "CIS GCP 6.2.3",
        "POSTGRES",
        "log_disconnections",
        ("on",),
        False,
    ),
    (
        "sql-pg-log-statement",
        "CIS GCP 6.2.4",
        "POSTGRES",
        "log_statement",
        ("ddl", "mod", "all"),
        False,
    ),
    (
        "sql-pg-log-min-messages",
        "CIS GCP 6.2.5",
        "POSTGRES",
        "log_min_messages",
        ("warning", "error", "log", "fatal", "panic"),
        True,
    ),
    (
        "sql-pg-log-min-error-statement",
        "CIS GCP 6.2.6",
        "POSTGRES",
        "log_min_error_statement",
        ("error", "log", "fatal", "panic"),
        True,
    ),
    (
        "sql-pg-log-min-duration-statement",
        "CIS GCP 6.2.7",
        "POSTGRES",
        "log_min_duration_statement",
        ("-1",),
        True,
    ),
    ("sql-pg-pgaudit", "CIS GCP 6.2.8", "POSTGRES", "cloudsql.enable_pgaudit", ("on",), False),
    (
        "sql-mysql-skip-show-database",
        "CIS GCP 6.1.2",
        "MYSQL",
        "skip_show_database",
        ("on",),
        False,
    ),
    ("sql-mysql-local-infile", "CIS GCP 6.1.3", "MYSQL", "local_infile", ("off",), False),
):
    _flag_control(*_args)


@resource_control(
    "sql-ssl-required", ["CIS GCP 6.4"], "SSL required for all incoming connections", SQL_INSTANCE
)
def sql_ssl_required(resource: Resource) -> Iterator[str]:
    mode = get(resource.props, "settings.ipConfiguration.sslMode")
    if mode not in ("ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"):
        yield f"sslMode is {mode!r}: unencrypted connections are accepted"


@resource_control(
    "sql-no-open-authorized-networks",
    ["CIS GCP 6.5"],
    "No 0.0.0.0/0 authorized network",
    SQL_INSTANCE,
)
def sql_no_open_networks(resource: Resource) -> Iterator[str]:
    for network in get(resource.props, "settings.ipConfiguration.authorizedNetworks", []) or []:
        value = str(network.get("value", ""))
        try:
            if ipaddress.ip_network(value, strict=False).prefixlen == 0:
                yield f"authorized network {value} opens the instance to the internet"
        except ValueError:
            yield f"authorized network {value!r} is not a CIDR range"


@resource_control(
    "sql-iam-authentication", ["CIS GCP v5 6.6"], "IAM database authentication", SQL_INSTANCE
)
def sql_iam_authentication(resource: Resource) -> Iterator[str]:
    flag = (
        "cloudsql.iam_authentication"
        if _engine(resource) == "POSTGRES"
        else "cloudsql_iam_authentication"
    )
    if _engine(resource) in ("POSTGRES", "MYSQL") and _flags(resource).get(flag) != "on":
        yield f"database flag {flag} is not on: logins need passwords"


@resource_control("sql-no-public-ip", ["CIS GCP 6.6 (v5 6.7)"], "No public IP", SQL_INSTANCE)
def sql_no_public_ip(resource: Resource) -> Iterator[str]:
    # The API's default is a public IP: only an explicit false passes.
    if get(resource.props, "settings.ipConfiguration.ipv4Enabled") is not False:
        yield "public IPv4 address enabled (ipv4Enabled is not false)"
    if not get(resource.props, "settings.ipConfiguration.privateNetwork"):
        yield "no privateNetwork: the instance has no private IP"


@resource_control(
    "sql-backups",
    ["CIS GCP 6.7 (v5 6.8)"],
    "Automated backups with point-in-time recovery",
    SQL_INSTANCE,
)
def sql_backups(resource: Resource) -> Iterator[str]:
    backup = get(resource.props, "settings.backupConfiguration", {})
    if backup.get("enabled") is not True:
        yield "automated backups are off"
        return
    pitr = "pointInTimeRecoveryEnabled" if _engine(resource) == "POSTGRES" else "binaryLogEnabled"
    if backup.get(pitr) is not True:
        yield f"{pitr} is off: no point-in-time recovery"
    retained = get(backup, "backupRetentionSettings.retainedBackups", 7)
    if float(retained) < 7:
        yield f"only {retained} backups retained (at least 7)"


@resource_control(
    "sql-deletion-protection",
    ["CIS GCP v5 6.9"],
    "Both deletion protections (Pulumi and Cloud SQL API)",
    SQL_INSTANCE,
)
def sql_deletion_protection(resource: Resource) -> Iterator[str]:
    if resource.props.get("deletionProtection") is False:
        yield "deletionProtection=false: `pulumi destroy` deletes the instance"
    if get(resource.props, "settings.deletionProtectionEnabled") is not True:
        yield "settings.deletionProtectionEnabled is off: the API (console, gcloud) can delete it"


@resource_control(
    "sql-connector-enforcement",
    ["hardening"],
    "Only Cloud SQL connectors may connect",
    SQL_INSTANCE,
)
def sql_connector_enforcement(resource: Resource) -> Iterator[str]:
    if get(resource.props, "settings.connectorEnforcement") != "REQUIRED":
        yield "connectorEnforcement is not REQUIRED: direct connections bypass IAM"


# --- CIS GCP section 7: BigQuery ----------------------------------------------------------


@resource_control(
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
        for member, role in iam_entries(resource):
            if member in PUBLIC_MEMBERS:
                yield f"{member} gets {role} on BigQuery data"


@resource_control(
    "bigquery-table-cmek", ["CIS GCP 7.2"], "Tables encrypted with customer-managed keys", TABLE
)
def bigquery_table_cmek(resource: Resource) -> Iterator[str]:
    if not get(resource.props, "encryptionConfiguration.kmsKeyName"):
        yield "no encryptionConfiguration.kmsKeyName (CMEK)"


@resource_control(
    "bigquery-dataset-cmek", ["CIS GCP 7.3"], "Datasets default to customer-managed keys", DATASET
)
def bigquery_dataset_cmek(resource: Resource) -> Iterator[str]:
    if not get(resource.props, "defaultEncryptionConfiguration.kmsKeyName"):
        yield "no defaultEncryptionConfiguration.kmsKeyName (CMEK)"


@resource_control(
    "bigquery-table-deletion-protection",
    ["checkov CKV_GCP_121"],
    "Tables have deletion protection",
    TABLE,
)
def bigquery_table_deletion_protection(resource: Resource) -> Iterator[str]:
    if resource.props.get("deletionProtection") is False:
        yield "deletionProtection=false"


@resource_control(
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


# --- CIS GKE Benchmark v1.9.0, section 5 ---------------------------------------------------


def _node_configs(resource: Resource) -> list[Mapping[str, Any]]:
    config = resource.props.get("nodeConfig")
    if resource.type == NODE_POOL:
        return [config or {}]
    return [config] if config else []


@resource_control(
    "gke-dedicated-node-service-account",
    ["CIS GKE 5.2.1"],
    "Nodes do not use the Compute Engine default service account",
    CLUSTER,
    NODE_POOL,
)
def gke_dedicated_node_sa(resource: Resource) -> Iterator[str]:
    if (
        resource.type == CLUSTER
        and not resource.props.get("nodeConfig")
        and not resource.props.get("removeDefaultNodePool")
    ):
        yield "default node pool without nodeConfig.serviceAccount uses the default compute SA"
    for config in _node_configs(resource):
        account = str(config.get("serviceAccount") or "default")
        if account == "default" or account.endswith("-compute@developer.gserviceaccount.com"):
            yield "nodes run as the Compute Engine default service account"


@resource_control("gke-workload-identity", ["CIS GKE 5.2.2"], "Workload Identity", CLUSTER)
def gke_workload_identity(resource: Resource) -> Iterator[str]:
    if not get(resource.props, "workloadIdentityConfig.workloadPool"):
        yield "Workload Identity is off (workloadIdentityConfig.workloadPool)"


@resource_control(
    "gke-secrets-encryption",
    ["CIS GKE 5.3.1"],
    "Kubernetes secrets encrypted with Cloud KMS",
    CLUSTER,
)
def gke_secrets_encryption(resource: Resource) -> Iterator[str]:
    if get(resource.props, "databaseEncryption.state") != "ENCRYPTED" or not get(
        resource.props, "databaseEncryption.keyName"
    ):
        yield "application-layer secrets encryption is off (databaseEncryption)"


@resource_control(
    "gke-metadata-server", ["CIS GKE 5.4.1"], "GKE metadata server", CLUSTER, NODE_POOL
)
def gke_metadata_server(resource: Resource) -> Iterator[str]:
    for config in _node_configs(resource):
        if get(config, "workloadMetadataConfig.mode") != "GKE_METADATA":
            yield "workloadMetadataConfig.mode is not GKE_METADATA: pods can read node credentials"


@resource_control(
    "gke-cos-containerd",
    ["CIS GKE 5.5.1"],
    "Container-Optimized OS with containerd",
    CLUSTER,
    NODE_POOL,
)
def gke_cos_containerd(resource: Resource) -> Iterator[str]:
    for config in _node_configs(resource):
        image = config.get("imageType")
        if image is not None and image != "COS_CONTAINERD":
            yield f"imageType {image} is not COS_CONTAINERD"


@resource_control(
    "gke-auto-repair-upgrade",
    ["CIS GKE 5.5.2", "CIS GKE 5.5.3"],
    "Node auto-repair and auto-upgrade",
    NODE_POOL,
)
def gke_auto_repair_upgrade(resource: Resource) -> Iterator[str]:
    for key in ("autoRepair", "autoUpgrade"):
        if get(resource.props, f"management.{key}") is False:
            yield f"management.{key} is off"


@resource_control(
    "gke-release-channel",
    ["CIS GKE 5.5.4"],
    "Enrolled in the REGULAR or STABLE release channel",
    CLUSTER,
)
def gke_release_channel(resource: Resource) -> Iterator[str]:
    channel = get(resource.props, "releaseChannel.channel")
    if channel not in ("REGULAR", "STABLE"):
        yield f"release channel {channel!r}: use REGULAR or STABLE"


@resource_control("gke-shielded-nodes", ["CIS GKE 5.5.5"], "Shielded GKE nodes", CLUSTER)
def gke_shielded_nodes(resource: Resource) -> Iterator[str]:
    if resource.props.get("enableShieldedNodes") is False:
        yield "enableShieldedNodes is off"


@resource_control(
    "gke-secure-boot-integrity",
    ["CIS GKE 5.5.6", "CIS GKE 5.5.7"],
    "Integrity monitoring and Secure Boot on nodes",
    CLUSTER,
    NODE_POOL,
)
def gke_secure_boot(resource: Resource) -> Iterator[str]:
    for config in _node_configs(resource):
        shielded = config.get("shieldedInstanceConfig") or {}
        if shielded.get("enableSecureBoot") is not True:
            yield "Secure Boot is off (shieldedInstanceConfig.enableSecureBoot)"
        if shielded.get("enableIntegrityMonitoring") is False:
            yield "integrity monitoring is off"


@resource_control(
    "gke-intranode-visibility",
    ["CIS GKE 5.6.1"],
    "Intranode visibility (flow logs of pod traffic)",
    CLUSTER,
)
def gke_intranode_visibility(resource: Resource) -> Iterator[str]:
    if resource.props.get("enableIntranodeVisibility") is not True:
        yield "enableIntranodeVisibility is off"


@resource_control("gke-vpc-native", ["CIS GKE 5.6.2"], "VPC-native cluster (alias IPs)", CLUSTER)
def gke_vpc_native(resource: Resource) -> Iterator[str]:
    if (
        not resource.props.get("ipAllocationPolicy")
        and resource.props.get("networkingMode") != "VPC_NATIVE"
    ):
        yield "routes-based cluster: set ipAllocationPolicy (VPC-native)"


@resource_control(
    "gke-authorized-networks",
    ["CIS GKE 5.6.3"],
    "Control-plane authorized networks, never 0.0.0.0/0",
    CLUSTER,
)
def gke_authorized_networks(resource: Resource) -> Iterator[str]:
    config = resource.props.get("masterAuthorizedNetworksConfig")
    if config is None:
        yield "no masterAuthorizedNetworksConfig: any address may reach the control plane"
        return
    for block in config.get("cidrBlocks") or []:
        if block.get("cidrBlock") in ("0.0.0.0/0", "::/0"):
            yield "authorized networks include 0.0.0.0/0"


@resource_control(
    "gke-private-endpoint", ["CIS GKE 5.6.4"], "Private control-plane endpoint", CLUSTER
)
def gke_private_endpoint(resource: Resource) -> Iterator[str]:
    if get(resource.props, "privateClusterConfig.enablePrivateEndpoint") is not True:
        yield "the control plane has a public endpoint (enablePrivateEndpoint)"


@resource_control("gke-private-nodes", ["CIS GKE 5.6.5"], "Private nodes", CLUSTER)
def gke_private_nodes(resource: Resource) -> Iterator[str]:
    if get(resource.props, "privateClusterConfig.enablePrivateNodes") is not True:
        yield "nodes have public IPs (enablePrivateNodes)"


@resource_control(
    "gke-logging-monitoring", ["CIS GKE 5.7.1"], "Cloud Logging and Cloud Monitoring", CLUSTER
)
def gke_logging_monitoring(resource: Resource) -> Iterator[str]:
    for key in ("loggingService", "monitoringService"):
        if resource.props.get(key) == "none":
            yield f"{key} is none"


@resource_control(
    "gke-no-client-certificate",
    ["CIS GKE 5.8.1"],
    "Client-certificate authentication disabled",
    CLUSTER,
)
def gke_no_client_certificate(resource: Resource) -> Iterator[str]:
    if get(resource.props, "masterAuth.clientCertificateConfig.issueClientCertificate") is True:
        yield "a client certificate is issued (static cluster credentials)"


@resource_control("gke-no-legacy-abac", ["CIS GKE 5.8.3"], "Legacy ABAC disabled", CLUSTER)
def gke_no_legacy_abac(resource: Resource) -> Iterator[str]:
    if resource.props.get("enableLegacyAbac") is True:
        yield "legacy ABAC is on"


@resource_control(
    "gke-cmek-boot-disks",
    ["CIS GKE 5.9.2"],
    "Node boot disks encrypted with customer-managed keys",
    CLUSTER,
    NODE_POOL,
)
def gke_cmek_boot_disks(resource: Resource) -> Iterator[str]:
    for config in _node_configs(resource):
        if not config.get("bootDiskKmsKey"):
            yield "boot disks use Google-managed keys (bootDiskKmsKey)"


@resource_control("gke-no-alpha", ["CIS GKE 5.10.2"], "No alpha clusters", CLUSTER)
def gke_no_alpha(resource: Resource) -> Iterator[str]:
    if resource.props.get("enableKubernetesAlpha") is True:
        yield "Kubernetes alpha features are on"


@resource_control("gke-security-posture", ["CIS GKE 5.10.4"], "Security posture dashboard", CLUSTER)
def gke_security_posture(resource: Resource) -> Iterator[str]:
    mode = get(resource.props, "securityPostureConfig.mode")
    if mode == "DISABLED":
        yield "security posture is disabled"


@resource_control(
    "gke-network-policy",
    ["checkov CKV_GCP_12"],
    "Network policy enforcement (Dataplane V2)",
    CLUSTER,
)
def gke_network_policy(resource: Resource) -> Iterator[str]:
    if (
        resource.props.get("datapathProvider") != "ADVANCED_DATAPATH"
        and get(resource.props, "networkPolicy.enabled") is not True
    ):
        yield "NetworkPolicy is not enforced: use Dataplane V2 (ADVANCED_DATAPATH)"


@resource_control(
    "gke-binary-authorization", ["checkov CKV_GCP_66"], "Binary Authorization enforced", CLUSTER
)
def gke_binary_authorization(resource: Resource) -> Iterator[str]:
    if (
        get(resource.props, "binaryAuthorization.evaluationMode")
        != "PROJECT_SINGLETON_POLICY_ENFORCE"
    ):
        yield "Binary Authorization is not enforced"


@resource_control(
    "gke-no-default-node-pool", ["checkov CKV_GCP_123"], "Default node pool removed", CLUSTER
)
def gke_no_default_node_pool(resource: Resource) -> Iterator[str]:
    if resource.props.get("removeDefaultNodePool") is not True:
        yield "the default node pool is kept (removeDefaultNodePool)"


@resource_control(
    "gke-deletion-protection", ["hardening"], "Cluster deletion protection outside dev", CLUSTER
)
def gke_deletion_protection(resource: Resource) -> Iterator[str]:
    if resource.props.get("deletionProtection") is False and _env(resource) != "dev":
        yield "deletionProtection=false outside dev"


@stack_control(
    "gke-image-scanning",
    ["CIS GKE 5.1.1"],
    "Image vulnerability scanning (Artifact Analysis) where a cluster exists",
    CLUSTER,
    SERVICE,
)
def gke_image_scanning(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    if any(r.type == CLUSTER for r in resources) and not any(
        r.type == SERVICE and r.props.get("service") == "containeranalysis.googleapis.com"
        for r in resources
    ):
        yield None, "containeranalysis.googleapis.com is not enabled: images are not scanned"


# --- CIS GKE section 4 (in-cluster) --------------------------------------------------------


@stack_control(
    "k8s-pod-security-baseline",
    ["CIS GKE 4.2.1"],
    "Pod Security Standard baseline or stricter on namespaces",
    NAMESPACE,
    NAMESPACE_PATCH,
)
def k8s_pod_security(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    # Applied manifests may declare a namespace again without labels (server-side apply merges
    # them): a namespace passes when any declaration of it enforces baseline or restricted.
    levels: dict[str, list[str | None]] = {}
    first: dict[str, Resource] = {}
    for resource in resources:
        if resource.type in (NAMESPACE, NAMESPACE_PATCH):
            name = str(get(resource.props, "metadata.name", resource.name))
            labels = get(resource.props, "metadata.labels", {})
            levels.setdefault(name, []).append(labels.get("pod-security.kubernetes.io/enforce"))
            first.setdefault(name, resource)
    for name, declared in sorted(levels.items()):
        if not {"baseline", "restricted"} & set(declared):
            yield (
                first[name],
                f"namespace {name} enforces no Pod Security level (baseline or restricted)",
            )


@stack_control(
    "k8s-network-policy-per-namespace",
    ["CIS GKE 4.3.2"],
    "Every namespace has a NetworkPolicy",
    NAMESPACE,
    NAMESPACE_PATCH,
    NETWORK_POLICY,
)
def k8s_network_policy(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    covered = {get(r.props, "metadata.namespace") for r in resources if r.type == NETWORK_POLICY}
    namespaces: dict[str, Resource] = {}
    for resource in resources:
        if resource.type in (NAMESPACE, NAMESPACE_PATCH):
            namespaces.setdefault(
                str(get(resource.props, "metadata.name", resource.name)), resource
            )
    for name, namespace in sorted(namespaces.items()):
        if name not in covered:
            yield namespace, f"namespace {name} has no NetworkPolicy"


# --- Cost attribution ---------------------------------------------------------------------


@resource_control(
    "labels-required",
    ["cost attribution"],
    "Labels env, team and cost-center on every resource that takes labels",
    *LABEL_PATHS,
)
def labels_required(resource: Resource) -> Iterator[str]:
    labels = get(resource.props, LABEL_PATHS[resource.type], {})
    missing = [k for k in REQUIRED_LABELS if not (isinstance(labels, Mapping) and labels.get(k))]
    if missing:
        yield f"missing labels {', '.join(missing)} ({LABEL_PATHS[resource.type]})"


@dataclass(frozen=True)
class Violation:
    """A failed control on a resource (or on the whole stack when ``resource`` is ``None``)."""

    control: str
    cis: tuple[str, ...]
    resource_type: str | None
    resource: str | None
    message: str


@dataclass
class ControlResult:
    """A control's outcome on one stack."""

    control: Control
    checked: int
    violations: list[Violation] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``pass``, ``FAIL`` or ``n/a`` (no resource of the control's types)."""
        if self.violations:
            return "FAIL"
        return "pass" if self.checked else "n/a"


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
