"""Every control: a passing case (the real prod program), a wrong value, and the attribute omitted.

Omitting an attribute must fail wherever the cloud's default is insecure, and pass where the default
is secure. A deliberately insecure stack yields exactly the expected violations.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest

from infra.policies import controls as c
from infra.policies.controls.artifact_registry import REPOSITORY, REPOSITORY_IAM

pytestmark = pytest.mark.pulumi

DELETE = object()


def _set(props: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        props = props.setdefault(part, {})
    if value is DELETE:
        props.pop(leaf, None)
    else:
        props[leaf] = value


def _flag(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(props: dict[str, Any]) -> None:
        flags = [f for f in props["settings"]["databaseFlags"] if f["name"] != name]
        if value is not DELETE:
            flags.append({"name": name, "value": value})
        props["settings"]["databaseFlags"] = flags

    return change


# (control, resource type, name part, wrong change, omitted attribute, omission fails)
PG, MYSQL = ("metadata", "kfp")
RESOURCE_CASES: list[tuple[str, str, str, Any, Any, bool]] = [
    (
        "iam-service-account-not-admin",
        c.PROJECT_IAM[0],
        "runner-bigquery-jobUser",
        {"role": "roles/storage.admin"},
        "role",
        False,
    ),
    (
        "iam-no-project-sa-user",
        c.PROJECT_IAM[0],
        "runner-bigquery-jobUser",
        {"role": "roles/iam.serviceAccountTokenCreator"},
        "role",
        False,
    ),
    (
        "iam-no-basic-roles",
        c.PROJECT_IAM[0],
        "runner-bigquery-jobUser",
        {"role": "roles/editor"},
        "role",
        False,
    ),
    (
        "iam-federation-restricted",
        c.WIF_PROVIDER,
        "ci-github",
        {"attributeCondition": "assertion.repository_owner != ''"},
        "attributeCondition",
        True,
    ),
    (
        # The repository alone: any branch of it could deploy to prod.
        "iam-federation-restricted",
        c.WIF_PROVIDER,
        "ci-github",
        {"attributeCondition": "assertion.repository in ['acme/churn-model']"},
        "attributeCondition",
        True,
    ),
    (
        "iam-federation-restricted",
        c.WIF_PROVIDER,
        "ci-github",
        {
            "attributeCondition": (
                "assertion.repository in ['acme/churn-model'] || assertion.ref == 'refs/heads/main'"
            )
        },
        "attributeCondition",
        True,
    ),
    (
        "iam-no-project-secret-readers",
        c.PROJECT_IAM[0],
        "deployer-container-clusterViewer",
        {"role": "roles/container.developer"},
        "role",
        False,
    ),
    (
        "gcs-cmek",
        c.BUCKET,
        "models-bucket",
        {"encryption.defaultKmsKeyName": ""},
        "encryption",
        True,
    ),
    (
        "gcs-kfp-reads-only",
        c.BUCKET_IAM[0],
        "models-kfp",
        {"role": "roles/storage.objectUser"},
        "role",
        True,
    ),
    ("sql-cmek", c.SQL_INSTANCE, PG, {"encryptionKeyName": ""}, "encryptionKeyName", True),
    ("sql-mysql-root-password", c.SQL_INSTANCE, MYSQL, {"rootPassword": ""}, "rootPassword", True),
    (
        "sql-pg-log-checkpoints",
        c.SQL_INSTANCE,
        PG,
        _flag("log_checkpoints", "off"),
        _flag("log_checkpoints", DELETE),
        True,
    ),
    (
        "sql-pg-log-lock-waits",
        c.SQL_INSTANCE,
        PG,
        _flag("log_lock_waits", "off"),
        _flag("log_lock_waits", DELETE),
        True,
    ),
    (
        "gke-groups-for-rbac",
        c.CLUSTER,
        "gke",
        {"authenticatorGroupsConfig.securityGroup": ""},
        "authenticatorGroupsConfig",
        True,
    ),
    (
        "gke-maintenance-window",
        c.CLUSTER,
        "gke",
        {"maintenancePolicy": {"maintenanceExclusions": []}},
        "maintenancePolicy",
        True,
    ),
    (
        "iam-no-default-service-accounts",
        c.PROJECT_IAM[0],
        "runner-bigquery-jobUser",
        {"member": "serviceAccount:1-compute@developer.gserviceaccount.com"},
        "member",
        False,
    ),
    (
        "kms-keys-not-public",
        c.KMS_IAM[0],
        "bigquery-agent",
        {"member": "allAuthenticatedUsers"},
        "member",
        False,
    ),
    (
        "kms-key-rotation",
        c.CRYPTO_KEY,
        "bigquery",
        {"rotationPeriod": "31536000s"},
        "rotationPeriod",
        True,
    ),
    (
        # An asymmetric signing key cannot rotate by itself: its label says it is rotated by hand.
        "kms-key-rotation",
        c.CRYPTO_KEY,
        "attestor",
        {"labels.rotation": "never"},
        "labels.rotation",
        True,
    ),
    ("network-no-default", c.NETWORK, "vpc", {"name": "default"}, "name", False),
    (
        "network-custom-mode",
        c.NETWORK,
        "vpc",
        {"autoCreateSubnetworks": True},
        "autoCreateSubnetworks",
        True,
    ),
    (
        "firewall-no-public-ssh",
        c.FIREWALL,
        "iap-ssh",
        {"sourceRanges": ["0.0.0.0/0"]},
        "sourceRanges",
        True,
    ),
    (
        # Two halves of the internet are the internet.
        "firewall-no-public-ssh",
        c.FIREWALL,
        "iap-ssh",
        {"sourceRanges": ["0.0.0.0/1", "128.0.0.0/1"]},
        "sourceRanges",
        True,
    ),
    (
        "firewall-no-public-rdp",
        c.FIREWALL,
        "iap-ssh",
        {"allows": [{"protocol": "tcp", "ports": ["3389"]}], "sourceRanges": ["0.0.0.0/0"]},
        "sourceRanges",
        False,
    ),
    ("subnet-flow-logs", c.SUBNET, "subnet", {"logConfig.flowSampling": 0.5}, "logConfig", True),
    (
        "subnet-private-google-access",
        c.SUBNET,
        "subnet",
        {"privateIpGoogleAccess": False},
        "privateIpGoogleAccess",
        True,
    ),
    (
        "gcs-not-public",
        c.BUCKET,
        "models-bucket",
        {"publicAccessPrevention": "inherited"},
        "publicAccessPrevention",
        True,
    ),
    ("gcs-not-public", c.BUCKET_IAM[0], "models-serving", {"member": "allUsers"}, "member", False),
    (
        "gcs-uniform-access",
        c.BUCKET,
        "models-bucket",
        {"uniformBucketLevelAccess": False},
        "uniformBucketLevelAccess",
        True,
    ),
    (
        "gcs-versioning",
        c.BUCKET,
        "models-bucket",
        {"versioning.enabled": False},
        "versioning",
        True,
    ),
    (
        "gcs-soft-delete",
        c.BUCKET,
        "models-bucket",
        {"softDeletePolicy.retentionDurationSeconds": 0},
        "softDeletePolicy",
        False,
    ),
    (
        "gcs-no-force-destroy",
        c.BUCKET,
        "models-bucket",
        {"forceDestroy": True},
        "forceDestroy",
        False,
    ),
    (
        "sql-pg-log-error-verbosity",
        c.SQL_INSTANCE,
        PG,
        _flag("log_error_verbosity", "verbose"),
        _flag("log_error_verbosity", DELETE),
        False,
    ),
    (
        "sql-pg-log-connections",
        c.SQL_INSTANCE,
        PG,
        _flag("log_connections", "off"),
        _flag("log_connections", DELETE),
        True,
    ),
    (
        "sql-pg-log-disconnections",
        c.SQL_INSTANCE,
        PG,
        _flag("log_disconnections", "off"),
        _flag("log_disconnections", DELETE),
        True,
    ),
    (
        "sql-pg-log-statement",
        c.SQL_INSTANCE,
        PG,
        _flag("log_statement", "none"),
        _flag("log_statement", DELETE),
        True,
    ),
    (
        "sql-pg-log-min-messages",
        c.SQL_INSTANCE,
        PG,
        _flag("log_min_messages", "debug1"),
        _flag("log_min_messages", DELETE),
        False,
    ),
    (
        "sql-pg-log-min-error-statement",
        c.SQL_INSTANCE,
        PG,
        _flag("log_min_error_statement", "notice"),
        _flag("log_min_error_statement", DELETE),
        False,
    ),
    (
        "sql-pg-log-min-duration-statement",
        c.SQL_INSTANCE,
        PG,
        _flag("log_min_duration_statement", "0"),
        _flag("log_min_duration_statement", DELETE),
        False,
    ),
    (
        "sql-pg-pgaudit",
        c.SQL_INSTANCE,
        PG,
        _flag("cloudsql.enable_pgaudit", "off"),
        _flag("cloudsql.enable_pgaudit", DELETE),
        True,
    ),
    (
        "sql-mysql-skip-show-database",
        c.SQL_INSTANCE,
        MYSQL,
        _flag("skip_show_database", "off"),
        _flag("skip_show_database", DELETE),
        True,
    ),
    (
        "sql-mysql-local-infile",
        c.SQL_INSTANCE,
        MYSQL,
        _flag("local_infile", "on"),
        _flag("local_infile", DELETE),
        True,
    ),
    (
        "sql-iam-authentication",
        c.SQL_INSTANCE,
        PG,
        _flag("cloudsql.iam_authentication", "off"),
        _flag("cloudsql.iam_authentication", DELETE),
        True,
    ),
    (
        "sql-iam-authentication",
        c.SQL_INSTANCE,
        MYSQL,
        _flag("cloudsql_iam_authentication", "off"),
        _flag("cloudsql_iam_authentication", DELETE),
        True,
    ),
    (
        "sql-ssl-required",
        c.SQL_INSTANCE,
        PG,
        {"settings.ipConfiguration.sslMode": "ALLOW_UNENCRYPTED_AND_ENCRYPTED"},
        "settings.ipConfiguration.sslMode",
        True,
    ),
    (
        "sql-no-open-authorized-networks",
        c.SQL_INSTANCE,
        PG,
        {"settings.ipConfiguration.authorizedNetworks": [{"value": "0.0.0.0/0"}]},
        "settings.ipConfiguration.authorizedNetworks",
        False,
    ),
    (
        "sql-no-open-authorized-networks",
        c.SQL_INSTANCE,
        PG,
        {"settings.ipConfiguration.authorizedNetworks": [{"value": "203.0.113.0/24"}]},
        "settings.ipConfiguration.authorizedNetworks",
        False,
    ),
    (
        "sql-no-public-ip",
        c.SQL_INSTANCE,
        PG,
        {"settings.ipConfiguration.ipv4Enabled": True},
        "settings.ipConfiguration.ipv4Enabled",
        True,
    ),
    (
        "sql-backups",
        c.SQL_INSTANCE,
        PG,
        {"settings.backupConfiguration.pointInTimeRecoveryEnabled": False},
        "settings.backupConfiguration",
        True,
    ),
    (
        "sql-backups",
        c.SQL_INSTANCE,
        MYSQL,
        {"settings.backupConfiguration.binaryLogEnabled": False},
        "settings.backupConfiguration.binaryLogEnabled",
        True,
    ),
    (
        "sql-deletion-protection",
        c.SQL_INSTANCE,
        PG,
        {"settings.deletionProtectionEnabled": False},
        "settings.deletionProtectionEnabled",
        True,
    ),
    (
        "sql-connector-enforcement",
        c.SQL_INSTANCE,
        PG,
        {"settings.connectorEnforcement": "NOT_REQUIRED"},
        "settings.connectorEnforcement",
        True,
    ),
    (
        "bigquery-not-public",
        c.DATASET,
        "-data",
        lambda p: p["accesses"].append({"role": "READER", "specialGroup": "allUsers"}),
        "accesses",
        False,
    ),
    (
        "bigquery-table-cmek",
        c.TABLE,
        "churn",
        {"encryptionConfiguration": {}},
        "encryptionConfiguration",
        True,
    ),
    (
        "bigquery-dataset-cmek",
        c.DATASET,
        "-data",
        {"defaultEncryptionConfiguration.kmsKeyName": ""},
        "defaultEncryptionConfiguration",
        True,
    ),
    (
        "bigquery-table-deletion-protection",
        c.TABLE,
        "churn",
        {"deletionProtection": False},
        "deletionProtection",
        False,
    ),
    (
        "bigquery-versions-never-expire",
        c.TABLE,
        "churn",
        {"requirePartitionFilter": False},
        "requirePartitionFilter",
        True,
    ),
    (
        "bigquery-versions-never-expire",
        c.DATASET,
        "-data",
        {"defaultPartitionExpirationMs": 86400000},
        "defaultPartitionExpirationMs",
        False,
    ),
    (
        "gke-dedicated-node-service-account",
        c.NODE_POOL,
        "pipelines",
        {"nodeConfig.serviceAccount": "default"},
        "nodeConfig.serviceAccount",
        True,
    ),
    (
        "gke-workload-identity",
        c.CLUSTER,
        "gke",
        {"workloadIdentityConfig.workloadPool": ""},
        "workloadIdentityConfig",
        True,
    ),
    (
        "gke-secrets-encryption",
        c.CLUSTER,
        "gke",
        {"databaseEncryption.state": "DECRYPTED"},
        "databaseEncryption",
        True,
    ),
    (
        "gke-metadata-server",
        c.NODE_POOL,
        "pipelines",
        {"nodeConfig.workloadMetadataConfig.mode": "GCE_METADATA"},
        "nodeConfig.workloadMetadataConfig",
        True,
    ),
    (
        "gke-cos-containerd",
        c.NODE_POOL,
        "pipelines",
        {"nodeConfig.imageType": "UBUNTU_CONTAINERD"},
        "nodeConfig.imageType",
        False,
    ),
    (
        "gke-auto-repair-upgrade",
        c.NODE_POOL,
        "pipelines",
        {"management.autoUpgrade": False},
        "management",
        False,
    ),
    (
        "gke-release-channel",
        c.CLUSTER,
        "gke",
        {"releaseChannel.channel": "RAPID"},
        "releaseChannel",
        True,
    ),
    (
        "gke-shielded-nodes",
        c.CLUSTER,
        "gke",
        {"enableShieldedNodes": False},
        "enableShieldedNodes",
        False,
    ),
    (
        "gke-secure-boot-integrity",
        c.NODE_POOL,
        "system",
        {"nodeConfig.shieldedInstanceConfig.enableIntegrityMonitoring": False},
        "nodeConfig.shieldedInstanceConfig",
        True,
    ),
    (
        "gke-intranode-visibility",
        c.CLUSTER,
        "gke",
        {"enableIntranodeVisibility": False},
        "enableIntranodeVisibility",
        True,
    ),
    (
        "gke-vpc-native",
        c.CLUSTER,
        "gke",
        {"networkingMode": "ROUTES", "ipAllocationPolicy": DELETE},
        "ipAllocationPolicy",
        False,
    ),
    (
        "gke-authorized-networks",
        c.CLUSTER,
        "gke",
        {"masterAuthorizedNetworksConfig.cidrBlocks": [{"cidrBlock": "0.0.0.0/0"}]},
        "masterAuthorizedNetworksConfig",
        True,
    ),
    (
        "gke-authorized-networks",
        c.CLUSTER,
        "gke",
        {
            "masterAuthorizedNetworksConfig.cidrBlocks": [
                {"cidrBlock": "0.0.0.0/1"},
                {"cidrBlock": "128.0.0.0/1"},
            ]
        },
        "masterAuthorizedNetworksConfig",
        True,
    ),
    (
        "gke-private-endpoint",
        c.CLUSTER,
        "gke",
        {"privateClusterConfig.enablePrivateEndpoint": False},
        "privateClusterConfig.enablePrivateEndpoint",
        True,
    ),
    (
        "gke-private-nodes",
        c.CLUSTER,
        "gke",
        {"privateClusterConfig.enablePrivateNodes": False},
        "privateClusterConfig",
        True,
    ),
    (
        "gke-logging-monitoring",
        c.CLUSTER,
        "gke",
        {"monitoringService": "none"},
        "monitoringService",
        False,
    ),
    (
        "gke-no-client-certificate",
        c.CLUSTER,
        "gke",
        {"masterAuth.clientCertificateConfig.issueClientCertificate": True},
        "masterAuth",
        False,
    ),
    ("gke-no-legacy-abac", c.CLUSTER, "gke", {"enableLegacyAbac": True}, "enableLegacyAbac", False),
    (
        "gke-cmek-boot-disks",
        c.NODE_POOL,
        "system",
        {"nodeConfig.bootDiskKmsKey": ""},
        "nodeConfig.bootDiskKmsKey",
        True,
    ),
    (
        "gke-no-alpha",
        c.CLUSTER,
        "gke",
        {"enableKubernetesAlpha": True},
        "enableKubernetesAlpha",
        False,
    ),
    (
        "gke-security-posture",
        c.CLUSTER,
        "gke",
        {"securityPostureConfig.mode": "DISABLED"},
        "securityPostureConfig",
        False,
    ),
    (
        "gke-network-policy",
        c.CLUSTER,
        "gke",
        {"datapathProvider": "LEGACY_DATAPATH"},
        "datapathProvider",
        True,
    ),
    (
        "gke-binary-authorization",
        c.CLUSTER,
        "gke",
        {"binaryAuthorization.evaluationMode": "DISABLED"},
        "binaryAuthorization",
        True,
    ),
    (
        "gke-no-default-node-pool",
        c.CLUSTER,
        "gke",
        {"removeDefaultNodePool": False},
        "removeDefaultNodePool",
        True,
    ),
    (
        "gke-deletion-protection",
        c.CLUSTER,
        "gke",
        {"deletionProtection": False},
        "deletionProtection",
        False,
    ),
    (
        "k8s-no-privileged-containers",
        c.WORKLOADS[0],
        "kubeflow/ml-pipeline-ui",
        lambda p: p["spec"]["template"]["spec"]["containers"][0].update(
            securityContext={"privileged": True}
        ),
        "spec.template.spec.containers",
        False,
    ),
    (
        "k8s-no-privileged-containers",
        c.WORKLOADS[0],
        "kubeflow/minio",
        {"spec.template.spec.hostNetwork": True},
        "spec.template.spec.hostNetwork",
        False,
    ),
    (
        "k8s-cluster-admin-only-where-required",
        c.ROLE_BINDINGS[0],
        "cache-deployer-clusterrolebinding",
        {"roleRef.name": "cluster-admin"},
        "roleRef",
        False,
    ),
    (
        # MinIO runs as the default service account: the overlay turns its token off.
        "k8s-default-service-account-tokens",
        c.WORKLOADS[0],
        "kubeflow/minio",
        {"spec.template.spec.automountServiceAccountToken": True},
        "spec.template.spec.automountServiceAccountToken",
        True,
    ),
    (
        "artifact-registry-cmek",
        REPOSITORY,
        "prod-images",
        {"kmsKeyName": ""},
        "kmsKeyName",
        True,
    ),
    (
        "artifact-registry-scanning",
        REPOSITORY,
        "prod-images",
        {"vulnerabilityScanningConfig.enablementConfig": "DISABLED"},
        "vulnerabilityScanningConfig",
        False,
    ),
    ("labels-required", c.BUCKET, "models-bucket", {"labels": {"env": "prod"}}, "labels", True),
    (
        "labels-required",
        c.SQL_INSTANCE,
        PG,
        {"settings.userLabels": {"team": "x"}},
        "settings.userLabels",
        True,
    ),
]
# The same, on the stack with orchestrator vertex (the Vertex AI endpoint exists there only).
VERTEX_CASES: list[tuple[str, str, str, Any, Any, bool]] = [
    (
        "vertex-endpoint-cmek",
        c.VERTEX_ENDPOINT,
        "serving-endpoint",
        {"encryptionSpec.kmsKeyName": ""},
        "encryptionSpec",
        True,
    ),
    (
        # The staging stack: outside dev the endpoint must be private (Private Service Connect).
        "vertex-endpoint-private",
        c.VERTEX_ENDPOINT,
        "serving-endpoint",
        {"privateServiceConnectConfig": DELETE, "dedicatedEndpointEnabled": True},
        "privateServiceConnectConfig.enablePrivateServiceConnect",
        True,
    ),
    (
        "labels-required",
        c.VERTEX_ENDPOINT,
        "serving-endpoint",
        {"labels": {"env": "staging"}},
        "labels",
        True,
    ),
]
CASES = [("prod", *case) for case in RESOURCE_CASES] + [("vertex", *case) for case in VERTEX_CASES]


def _control(control_id: str) -> c.Control:
    return next(control for control in c.CONTROLS if control.id == control_id)


def _changed(resource: c.Resource, change: Any) -> c.Resource:
    props = copy.deepcopy(dict(resource.props))
    if callable(change):
        change(props)
    elif isinstance(change, str):
        _set(props, change, DELETE)
    else:
        for path, value in change.items():
            _set(props, path, value)
    return c.Resource(resource.type, resource.name, props)


def _messages(control: c.Control, resource: c.Resource) -> list[str]:
    assert control.applies_to(resource)
    return list(control.check(resource))


@pytest.mark.parametrize(
    ("stack", "control_id", "type_", "name_part", "wrong", "omitted", "omission_fails"),
    CASES,
    ids=[f"{case[1]}:{case[3]}" for case in CASES],
)
def test_resource_control(
    request: pytest.FixtureRequest,
    stack: str,
    control_id: str,
    type_: str,
    name_part: str,
    wrong: Any,
    omitted: Any,
    omission_fails: bool,
) -> None:
    control = _control(control_id)
    evaluation = request.getfixturevalue(stack)
    [resource] = [r for r in evaluation.resources if r.type == type_ and name_part in r.name]
    assert _messages(control, resource) == [], "the program must pass"
    assert _messages(control, _changed(resource, wrong)), "a wrong value must fail"
    assert bool(_messages(control, _changed(resource, omitted))) is omission_fails


def _without(
    resources: list[c.Resource], predicate: Callable[[c.Resource], bool]
) -> list[c.Resource]:
    return [r for r in resources if not predicate(r)]


def _edit(resources: list[c.Resource], type_: str, name_part: str, change: Any) -> list[c.Resource]:
    return [
        _changed(r, change) if r.type == type_ and name_part in r.name else r for r in resources
    ]


def _grant(member: str, *roles: str) -> list[c.Resource]:
    return [
        c.Resource(c.PROJECT_IAM[0], f"extra-{i}", {"project": "p", "member": member, "role": role})
        for i, role in enumerate(roles)
    ]


StackCase = Callable[[list[c.Resource]], list[c.Resource]]
# (control, wrong change of the stack, the required resource omitted)
STACK_CASES: list[tuple[str, StackCase, StackCase | None]] = [
    (
        "iam-separation-of-duties-service-accounts",
        lambda rs: (
            rs
            + _grant(
                "user:a@x.com", "roles/iam.serviceAccountAdmin", "roles/iam.serviceAccountUser"
            )
        ),
        None,
    ),
    (
        "iam-separation-of-duties-kms",
        lambda rs: (
            rs
            + _grant(
                "user:a@x.com", "roles/cloudkms.admin", "roles/cloudkms.cryptoKeyEncrypterDecrypter"
            )
        ),
        None,
    ),
    (
        "logging-audit-all-services",
        lambda rs: _edit(
            rs,
            c.AUDIT_CONFIG,
            "",
            lambda p: p["auditLogConfigs"][1].update(exemptedMembers=["user:a@x.com"]),
        ),
        lambda rs: _without(rs, lambda r: r.type == c.AUDIT_CONFIG),
    ),
    (
        "logging-sink-all-entries",
        lambda rs: _edit(rs, c.SINK, "", {"filter": "severity>=ERROR"}),
        lambda rs: _without(rs, lambda r: r.type == c.SINK),
    ),
    (
        "logging-export-bucket-locked",
        lambda rs: _edit(rs, c.BUCKET, "audit", {"retentionPolicy.isLocked": False}),
        lambda rs: _edit(rs, c.BUCKET, "audit", "retentionPolicy"),
    ),
    (
        "logging-change-alerts",
        lambda rs: _edit(rs, c.LOG_METRIC, "firewall", {"filter": 'resource.type="gce_instance"'}),
        lambda rs: _without(rs, lambda r: r.type == c.ALERT_POLICY),
    ),
    (
        "dns-logging",
        lambda rs: _edit(rs, c.DNS_POLICY, "", {"enableLogging": False}),
        lambda rs: _without(rs, lambda r: r.type == c.DNS_POLICY),
    ),
    (
        "asset-inventory-enabled",
        lambda rs: _edit(rs, c.SERVICE, "cloudasset", {"service": "cloudassets.googleapis.com"}),
        lambda rs: _without(rs, lambda r: r.type == c.SERVICE and "cloudasset" in r.name),
    ),
    (
        "gke-image-scanning",
        lambda rs: _edit(
            rs, c.SERVICE, "containeranalysis", {"service": "containerscanning.googleapis.com"}
        ),
        lambda rs: _without(rs, lambda r: r.type == c.SERVICE and "containeranalysis" in r.name),
    ),
    (
        "k8s-pod-security-baseline",
        lambda rs: _edit(
            rs,
            c.NAMESPACE,
            "",
            {"metadata.labels": {"pod-security.kubernetes.io/enforce": "privileged"}},
        ),
        lambda rs: _edit(rs, c.NAMESPACE, "", "metadata.labels"),
    ),
    (
        "gke-sandbox",
        lambda rs: _edit(rs, c.NODE_POOL, "pipelines", {"nodeConfig.sandboxConfig.type": "RUNC"}),
        lambda rs: _edit(rs, c.NODE_POOL, "pipelines", "nodeConfig.sandboxConfig"),
    ),
    (
        "gke-binary-authorization-policy",
        lambda rs: _edit(
            rs,
            c.BINARY_AUTHORIZATION_POLICY,
            "",
            {"defaultAdmissionRule.evaluationMode": "ALWAYS_ALLOW"},
        ),
        lambda rs: _without(rs, lambda r: r.type == c.BINARY_AUTHORIZATION_POLICY),
    ),
    (
        "gke-binary-authorization-attestor",
        lambda rs: _edit(
            rs,
            c.BINARY_AUTHORIZATION_POLICY,
            "",
            {"defaultAdmissionRule.enforcementMode": "DRYRUN_AUDIT_LOG_ONLY"},
        ),
        lambda rs: _without(rs, lambda r: r.type == c.ATTESTOR),
    ),
    (
        "artifact-registry-images-not-public",
        lambda rs: _edit(rs, REPOSITORY_IAM[0], "images-gke-nodes", {"member": "allUsers"}),
        None,
    ),
    (
        # Public without the stack's say-so: the label the program sets from kitRepository.public.
        "artifact-registry-python-public-by-choice",
        lambda rs: _edit(rs, REPOSITORY, "-kit", "labels.public-read"),
        None,
    ),
    (
        "k8s-network-policy-per-namespace",
        lambda rs: _edit(rs, c.NETWORK_POLICY, "", {"metadata.namespace": "default"}),
        lambda rs: _without(rs, lambda r: r.type == c.NETWORK_POLICY),
    ),
    (
        "k8s-kfp-behind-iap",
        lambda rs: _edit(
            rs, c.BACKEND_POLICY, "ml-pipeline-iap", {"spec.default.iap.enabled": False}
        ),
        lambda rs: _without(rs, lambda r: r.type == c.BACKEND_POLICY),
    ),
]


@pytest.mark.parametrize(
    ("control_id", "wrong", "omitted"), STACK_CASES, ids=[case[0] for case in STACK_CASES]
)
def test_stack_control(
    prod: Any, control_id: str, wrong: StackCase, omitted: StackCase | None
) -> None:
    control = _control(control_id)
    resources = list(prod.resources)
    assert list(control.check(resources)) == []
    assert list(control.check(wrong(resources)))
    if omitted is not None:
        assert list(control.check(omitted(resources)))


@pytest.mark.parametrize(
    ("exposure", "expected"),
    [
        (
            c.Resource(
                c.K8S_SERVICE,
                "ui-lb",
                {"metadata": {"name": "ml-pipeline-ui-lb"}, "spec": {"type": "LoadBalancer"}},
            ),
            "Service ml-pipeline-ui-lb is a LoadBalancer",
        ),
        (
            c.Resource(c.INGRESS, "ui-ingress", {"metadata": {"name": "kfp"}}),
            "Ingress kfp routes to KFP without IAP",
        ),
    ],
)
def test_kfp_reachable_around_iap_fails(prod: Any, exposure: c.Resource, expected: str) -> None:
    control = _control("k8s-kfp-behind-iap")
    messages = [message for _resource, message in control.check([*prod.resources, exposure])]
    assert any(expected in message for message in messages), messages


def test_kfp_over_plain_http_or_without_an_oauth_client_fails(prod: Any) -> None:
    control = _control("k8s-kfp-behind-iap")
    http = _edit(
        list(prod.resources),
        c.GATEWAY,
        "",
        {"spec.listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]},
    )
    assert [m for _r, m in control.check(http)] == [
        "Gateway kfp listens with HTTP on port 80: IAP's credentials would cross in clear text"
    ]
    no_client = _edit(
        list(prod.resources),
        c.BACKEND_POLICY,
        "ml-pipeline-ui-iap",
        {"spec.default.iap.clientID": DELETE},
    )
    assert [m for _r, m in control.check(no_client)] == [
        "HTTPRoute kfp sends requests to Service ml-pipeline-ui, which has no GCPBackendPolicy "
        "with IAP enabled and an OAuth client"
    ]


def test_images_by_tag_are_flagged_with_the_lock_command(prod: Any) -> None:
    from dataclasses import replace

    from infra.kubeflow_inventory import applied_objects, resource_type
    from tests.infra.test_kubeflow_manifests import SETTINGS

    control = _control("k8s-images-by-digest")
    [api] = [
        r for r in prod.resources if r.type == c.WORKLOADS[0] and r.name.endswith("/ml-pipeline")
    ]
    # Nothing is locked in the repository yet: the program applies KFP's tags.
    assert _messages(control, api) == [
        "container ml-pipeline-api-server runs ghcr.io/kubeflow/kfp-api-server:2.5.0 by tag, not "
        "by digest: run python -m infra.kubeflow_inventory lock-digests where the registries are "
        "reachable, and commit the lock"
    ]
    digest = "sha256:" + "0" * 64
    # Passing: the overlay applies a locked digest.
    locked = replace(SETTINGS, digests={"ghcr.io/kubeflow/kfp-api-server:2.5.0": digest})
    [pinned] = [
        o
        for o in applied_objects(locked)
        if (o["kind"], o["metadata"]["name"]) == ("Deployment", "ml-pipeline")
    ]
    assert _messages(control, c.Resource(resource_type(pinned), "ml-pipeline", pinned)) == []
    container = "spec.template.spec.containers"
    wrong = _changed(api, {container: [{"name": "api", "image": "kfp-api-server@sha256:0"}]})
    assert _messages(control, wrong)
    omitted = _changed(api, {container: [{"name": "api"}]})
    assert _messages(control, omitted) == [
        "container api runs no image by tag, not by digest: run python -m "
        "infra.kubeflow_inventory lock-digests where the registries are reachable, and commit "
        "the lock"
    ]


def test_an_advisory_control_warns_without_failing_the_audit(prod: Any) -> None:
    from pulumi_policy import EnforcementLevel

    from infra.audit import audit_report
    from infra.policies.pack import build_policies

    report = audit_report(prod)
    [digests] = [p for p in report["policies"] if p["control"] == "k8s-images-by-digest"]
    assert digests["status"] == "warn"
    assert report["summary"]["warned"] == 1
    assert report["summary"]["warnings"] == len(digests["violations"]) > 10
    assert report["summary"]["violations"] == 0  # the audit exits 0
    levels = {p.name: p.enforcement_level for p in build_policies()}
    assert levels["k8s-images-by-digest"] == EnforcementLevel.ADVISORY
    assert levels["k8s-no-privileged-containers"] is None  # the pack's level: mandatory


def test_service_account_keys_are_always_a_violation(prod: Any) -> None:
    control = _control("iam-no-service-account-keys")
    assert not [r for r in prod.resources if control.applies_to(r)]
    key = c.Resource(c.SA_KEY, "runner-key", {"serviceAccountId": "runner"})
    assert list(control.check(key))


def test_project_must_not_create_the_default_network() -> None:
    control = _control("network-no-default")
    assert list(control.check(c.Resource(c.GCP_PROJECT, "p", {"autoCreateNetwork": False}))) == []
    assert list(control.check(c.Resource(c.GCP_PROJECT, "p", {"autoCreateNetwork": True})))
    assert list(control.check(c.Resource(c.GCP_PROJECT, "p", {})))


def test_force_destroy_is_allowed_in_dev_only(evaluations: dict[str, Any]) -> None:
    control = _control("gcs-no-force-destroy")
    [dev_bucket] = [
        r for r in evaluations["dev"].resources if r.type == c.BUCKET and "models" in r.name
    ]
    assert dev_bucket.props["forceDestroy"] is True
    assert list(control.check(dev_bucket)) == []


@pytest.mark.parametrize("access", ["dedicated", "public"])
def test_a_public_endpoint_is_allowed_in_dev_only(access: str) -> None:
    from infra.evaluate import evaluate
    from tests.infra.conftest import vertex_config

    control = _control("vertex-endpoint-private")
    config = vertex_config("dev", **{"mlops-kit:vertexEndpoint": {"access": access}})
    [endpoint] = [
        r for r in evaluate("dev", config=config).resources if r.type == c.VERTEX_ENDPOINT
    ]
    assert "privateServiceConnectConfig" not in endpoint.props
    assert list(control.check(endpoint)) == []
    [message] = control.check(_changed(endpoint, {"labels.env": "prod"}))
    assert f"the {'dedicated' if access == 'dedicated' else 'shared'} public endpoint" in message


def test_an_asymmetric_key_with_a_rotation_period_fails(prod: Any) -> None:
    control = _control("kms-key-rotation")
    [key] = [r for r in prod.resources if r.type == c.CRYPTO_KEY and "attestor" in r.name]
    assert key.props["purpose"] == "ASYMMETRIC_SIGN"
    assert "rotationPeriod" not in key.props
    [message] = _messages(control, _changed(key, {"rotationPeriod": "7776000s"}))
    assert "Cloud KMS rotates only symmetric keys" in message


def _admission(rs: list[c.Resource], change: Any) -> list[str]:
    control = _control("gke-binary-authorization-attestor")
    return [m for _, m in control.check(_edit(rs, c.BINARY_AUTHORIZATION_POLICY, "", change))]


def test_the_admission_policy_requires_the_declared_attestor_and_no_bypass(prod: Any) -> None:
    rs = list(prod.resources)
    rule = "defaultAdmissionRule"
    [deny] = _admission(rs, {f"{rule}.evaluationMode": "ALWAYS_DENY"})
    assert "not REQUIRE_ATTESTATION" in deny
    assert _admission(rs, {f"{rule}.requireAttestationsBies": []}) == [
        "the admission rule requires no attestor"
    ]
    [other] = _admission(rs, {f"{rule}.requireAttestationsBies": ["projects/x/attestors/y"]})
    assert "projects/x/attestors/y, which the stack does not declare" in other
    [omitted] = _admission(rs, f"{rule}.enforcementMode")
    assert "enforcementMode is (none)" in omitted
    # Admitting the project's registry by name would let every image in it skip attestation.
    [policy] = [r for r in rs if r.type == c.BINARY_AUTHORIZATION_POLICY]
    admitted = list(policy.props["admissionWhitelistPatterns"])
    for pattern in ("europe-west1-docker.pkg.dev/acme-ml-prod/*", "europe-west1-docker.pkg.dev/**"):
        entries = [*admitted, {"namePattern": pattern}]
        [bypass] = _admission(rs, {"admissionWhitelistPatterns": entries})
        assert (
            "admits the images of europe-west1-docker.pkg.dev/acme-ml-prod/mlops-prod-images"
            in (bypass)
        )


def test_dry_run_admission_is_dev_only(evaluations: dict[str, Any]) -> None:
    control = _control("gke-binary-authorization-attestor")
    dev = list(evaluations["dev"].resources)
    [policy] = [r for r in dev if r.type == c.BINARY_AUTHORIZATION_POLICY]
    assert policy.props["defaultAdmissionRule"]["enforcementMode"] == "DRYRUN_AUDIT_LOG_ONLY"
    assert list(control.check(dev)) == []
    relabelled = _edit(dev, c.CLUSTER, "", {"resourceLabels.env": "staging"})
    [(_, message)] = control.check(relabelled)
    assert "outside dev it must be ENFORCED_BLOCK_AND_AUDIT_LOG" in message


def test_a_public_grant_on_the_virtual_python_repository_fails_even_where_the_kit_is_public(
    prod: Any,
) -> None:
    control = _control("artifact-registry-python-public-by-choice")
    public = _edit(
        list(prod.resources), REPOSITORY_IAM[0], "python-deployer", {"member": "allUsers"}
    )
    [(resource, message)] = control.check(public)
    assert resource is not None and "python-deployer" in resource.name
    assert "Python repository mlops-prod-python, which the stack does not make public" in message


def test_a_setting_row_names_the_value_it_found(prod: Any) -> None:
    cluster = next(r for r in prod.resources if r.type == c.CLUSTER)
    rapid = _changed(cluster, {"releaseChannel.channel": "RAPID"})
    assert _messages(_control("gke-release-channel"), rapid) == [
        "release channel 'RAPID': use REGULAR or STABLE"
    ]
    unset = _changed(cluster, "releaseChannel")
    assert _messages(_control("gke-release-channel"), unset) == [
        "release channel None: use REGULAR or STABLE"
    ]


def test_every_control_is_tested_and_cites_its_benchmark() -> None:
    tested = {case[1] for case in CASES} | {case[0] for case in STACK_CASES}
    tested |= {"iam-no-service-account-keys", "k8s-images-by-digest"}
    assert tested == {control.id for control in c.CONTROLS}
    assert len({control.id for control in c.CONTROLS}) == len(c.CONTROLS)
    for control in c.CONTROLS:
        assert control.cis and control.types and control.title


def test_each_section_lists_its_controls_in_the_benchmark_order() -> None:
    for section in c.SECTIONS:
        refs = [control.cis[0] for control in section.controls]
        cis = [ref for ref in refs if ref.startswith("CIS ")]
        # CIS recommendations first, then the checks beyond the benchmark.
        assert refs[: len(cis)] == cis, section.title
        first_numbers = [re.search(r"\d+(\.\d+)+", ref) for ref in cis]
        numbers = [tuple(int(n) for n in m[0].split(".")) for m in first_numbers if m]
        assert len(numbers) == len(cis), section.title
        assert numbers == sorted(numbers), section.title


def test_every_applicable_cis_control_of_the_reference_is_implemented() -> None:
    cited = " ".join(" ".join(control.cis) for control in c.CONTROLS)
    gcp_v4 = [
        "1.4",
        "1.5",
        "1.6",
        "1.8",
        "1.9",
        "1.10",
        "1.11",
        "2.1",
        "2.2",
        "2.3",
        "2.4-2.11",
        "2.12",
        "2.13",
        "3.1",
        "3.2",
        "3.6",
        "3.7",
        "3.8",
        "5.1",
        "5.2",
        "6.2.1",
        "6.2.2",
        "6.2.3",
        "6.2.4",
        "6.2.5",
        "6.2.6",
        "6.2.7",
        "6.2.8",
        "6.1.1",
        "6.4",
        "6.5",
        "6.6",
        "6.7",
        "7.1",
        "7.2",
        "7.3",
    ]
    gke = [
        "5.1.1",
        "5.2.1",
        "5.2.2",
        "5.3.1",
        "5.4.1",
        "5.5.1",
        "5.5.2",
        "5.5.3",
        "5.5.4",
        "5.5.5",
        "5.5.6",
        "5.5.7",
        "5.6.1",
        "5.6.2",
        "5.6.3",
        "5.6.4",
        "5.6.5",
        "5.7.1",
        "5.8.1",
        "5.8.2",
        "5.8.3",
        "5.10.3",
        "5.9.2",
        "5.10.2",
        "5.10.4",
        "4.1.1",
        "4.1.6",
        "4.2.1",
        "4.3.2",
    ]
    for cis_id in gcp_v4:
        assert f"CIS GCP {cis_id}" in cited, cis_id
    for cis_id in gke:
        assert f"CIS GKE {cis_id}" in cited, cis_id
    assert "CIS GCP v5 6.6" in cited and "CIS GCP v5 6.9" in cited


def test_insecure_stack_yields_exactly_the_expected_violations(prod: Any) -> None:
    resources = _edit(
        list(prod.resources), c.BUCKET, "models-bucket", {"publicAccessPrevention": "inherited"}
    )
    resources = _edit(resources, c.BUCKET_IAM[0], "models-serving", {"member": "allUsers"})
    resources = _edit(
        resources,
        c.SQL_INSTANCE,
        "metadata",
        {
            "settings.ipConfiguration.ipv4Enabled": True,
            "settings.ipConfiguration.authorizedNetworks": [{"name": "all", "value": "0.0.0.0/0"}],
        },
    )
    resources += _grant("user:alice@acme.example", "roles/editor")
    found = {
        (v.control, v.resource)
        for result in c.evaluate_controls(resources)
        if result.status == "FAIL"  # warnings (images by tag) are the prod program's own
        for v in result.violations
    }
    assert found == {
        ("gcs-not-public", "mlops-prod-models-bucket"),
        ("gcs-not-public", "mlops-prod-models-serving"),
        ("sql-no-public-ip", "mlops-prod-metadata-instance"),
        ("sql-no-open-authorized-networks", "mlops-prod-metadata-instance"),
        ("iam-no-basic-roles", "extra-0"),
    }


@pytest.mark.parametrize(
    ("control_id", "resource"),
    [
        (
            "bigquery-not-public",
            c.Resource(c.BIGQUERY_IAM[0], "m", {"member": "allUsers", "role": "r"}),
        ),
        (
            "bigquery-not-public",
            c.Resource(c.BIGQUERY_IAM[1], "b", {"members": ["allUsers"], "role": "r"}),
        ),
        (
            "bigquery-not-public",
            c.Resource(c.BIGQUERY_IAM[3], "a", {"specialGroup": "allAuthenticatedUsers"}),
        ),
        (
            "gcs-not-public",
            c.Resource(c.BUCKET_IAM[1], "b", {"members": ["allUsers"], "role": "r"}),
        ),
        (
            "gcs-not-public",
            c.Resource(
                c.BUCKET_IAM[2],
                "p",
                {"policyData": '{"bindings": [{"role": "r", "members": ["allUsers"]}]}'},
            ),
        ),
        (
            "kms-keys-not-public",
            c.Resource(c.KMS_IAM[3], "k", {"members": ["allUsers"], "role": "r"}),
        ),
        (
            "iam-no-basic-roles",
            c.Resource(
                c.PROJECT_IAM[1], "b", {"members": ["group:g@x.com"], "role": "roles/owner"}
            ),
        ),
        ("iam-federation-restricted", c.Resource(c.WIF_PROVIDER, "p", {"attributeCondition": " "})),
    ],
    ids=lambda value: value if isinstance(value, str) else value.type.rsplit(":", 1)[-1],
)
def test_binding_and_policy_resources_are_checked_too(
    control_id: str, resource: c.Resource
) -> None:
    assert list(_control(control_id).check(resource))


def test_a_namespace_declared_again_without_labels_keeps_its_pod_security(prod: Any) -> None:
    control = _control("k8s-pod-security-baseline")
    again = c.Resource(c.NAMESPACE, "kfp-manifests-kubeflow", {"metadata": {"name": "kubeflow"}})
    assert list(control.check([*prod.resources, again])) == []
    alone = c.Resource(c.NAMESPACE, "other", {"metadata": {"name": "other"}})
    assert [m for _, m in control.check([*prod.resources, alone])] == [
        "namespace other enforces no Pod Security level (baseline or restricted)"
    ]


def test_groups_for_rbac_may_be_omitted_in_dev_only(evaluations: dict[str, Any]) -> None:
    control = _control("gke-groups-for-rbac")
    [dev_cluster] = [r for r in evaluations["dev"].resources if r.type == c.CLUSTER]
    assert "authenticatorGroupsConfig" not in dev_cluster.props
    assert list(control.check(dev_cluster)) == []


def test_federation_may_name_a_github_environment_instead_of_a_ref(prod: Any) -> None:
    control = _control("iam-federation-restricted")
    [provider] = [r for r in prod.resources if r.type == c.WIF_PROVIDER]
    assert "assertion.environment == 'prod'" in provider.props["attributeCondition"]
    by_ref = _changed(
        provider,
        {
            "attributeCondition": (
                "assertion.repository in ['acme/churn-model'] && assertion.ref == 'refs/heads/main'"
            )
        },
    )
    assert list(control.check(by_ref)) == []
