"""CIS GKE Benchmark v1.9.0, section 5: the cluster as Google Cloud manages it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from infra.addresses import is_public
from infra.policies.controls.artifact_registry import REPOSITORY
from infra.policies.controls.registry import Section, Setting
from infra.policies.controls.resources import (
    ATTESTOR,
    BINARY_AUTHORIZATION_POLICY,
    CLUSTER,
    NODE_POOL,
    SERVICE,
    Resource,
    env_label,
    get,
    project_names,
)

SECTION = Section("CIS GKE 5: managed services")

SECTION.settings(
    Setting(
        "gke-workload-identity",
        ["CIS GKE 5.2.2"],
        "Workload Identity",
        CLUSTER,
        "workloadIdentityConfig.workloadPool",
        problem="Workload Identity is off (workloadIdentityConfig.workloadPool)",
    ),
    Setting(
        "gke-release-channel",
        ["CIS GKE 5.5.4"],
        "Enrolled in the REGULAR or STABLE release channel",
        CLUSTER,
        "releaseChannel.channel",
        one_of=("REGULAR", "STABLE"),
        problem="release channel {value!r}: use REGULAR or STABLE",
    ),
    Setting(
        "gke-shielded-nodes",
        ["CIS GKE 5.5.5"],
        "Shielded GKE nodes",
        CLUSTER,
        "enableShieldedNodes",
        must_not_be=False,
        problem="enableShieldedNodes is off",
    ),
    Setting(
        "gke-intranode-visibility",
        ["CIS GKE 5.6.1"],
        "Intranode visibility (flow logs of pod traffic)",
        CLUSTER,
        "enableIntranodeVisibility",
        must_be=True,
        problem="enableIntranodeVisibility is off",
    ),
    Setting(
        "gke-private-endpoint",
        ["CIS GKE 5.6.4"],
        "Private control-plane endpoint",
        CLUSTER,
        "privateClusterConfig.enablePrivateEndpoint",
        must_be=True,
        problem="the control plane has a public endpoint (enablePrivateEndpoint)",
    ),
    Setting(
        "gke-private-nodes",
        ["CIS GKE 5.6.5"],
        "Private nodes",
        CLUSTER,
        "privateClusterConfig.enablePrivateNodes",
        must_be=True,
        problem="nodes have public IPs (enablePrivateNodes)",
    ),
    Setting(
        "gke-no-client-certificate",
        ["CIS GKE 5.8.1"],
        "Client-certificate authentication disabled",
        CLUSTER,
        "masterAuth.clientCertificateConfig.issueClientCertificate",
        must_not_be=True,
        problem="a client certificate is issued (static cluster credentials)",
    ),
    Setting(
        "gke-no-legacy-abac",
        ["CIS GKE 5.8.3"],
        "Legacy ABAC disabled",
        CLUSTER,
        "enableLegacyAbac",
        must_not_be=True,
        problem="legacy ABAC is on",
    ),
    Setting(
        "gke-no-alpha",
        ["CIS GKE 5.10.2"],
        "No alpha clusters",
        CLUSTER,
        "enableKubernetesAlpha",
        must_not_be=True,
        problem="Kubernetes alpha features are on",
    ),
    Setting(
        "gke-security-posture",
        ["CIS GKE 5.10.4"],
        "Security posture dashboard",
        CLUSTER,
        "securityPostureConfig.mode",
        must_not_be="DISABLED",
        problem="security posture is disabled",
    ),
    Setting(
        "gke-binary-authorization",
        ["checkov CKV_GCP_66"],
        "Binary Authorization enforced",
        CLUSTER,
        "binaryAuthorization.evaluationMode",
        must_be="PROJECT_SINGLETON_POLICY_ENFORCE",
        problem="Binary Authorization is not enforced",
    ),
    Setting(
        "gke-no-default-node-pool",
        ["checkov CKV_GCP_123"],
        "Default node pool removed",
        CLUSTER,
        "removeDefaultNodePool",
        must_be=True,
        problem="the default node pool is kept (removeDefaultNodePool)",
    ),
)


def _node_configs(resource: Resource) -> list[Mapping[str, Any]]:
    config = resource.props.get("nodeConfig")
    if resource.type == NODE_POOL:
        return [config or {}]
    return [config] if config else []


@SECTION.resource_control(
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


@SECTION.resource_control(
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


@SECTION.resource_control(
    "gke-metadata-server", ["CIS GKE 5.4.1"], "GKE metadata server", CLUSTER, NODE_POOL
)
def gke_metadata_server(resource: Resource) -> Iterator[str]:
    for config in _node_configs(resource):
        if get(config, "workloadMetadataConfig.mode") != "GKE_METADATA":
            yield "workloadMetadataConfig.mode is not GKE_METADATA: pods can read node credentials"


@SECTION.resource_control(
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


@SECTION.resource_control(
    "gke-auto-repair-upgrade",
    ["CIS GKE 5.5.2", "CIS GKE 5.5.3"],
    "Node auto-repair and auto-upgrade",
    NODE_POOL,
)
def gke_auto_repair_upgrade(resource: Resource) -> Iterator[str]:
    for key in ("autoRepair", "autoUpgrade"):
        if get(resource.props, f"management.{key}") is False:
            yield f"management.{key} is off"


@SECTION.resource_control(
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


@SECTION.resource_control(
    "gke-vpc-native", ["CIS GKE 5.6.2"], "VPC-native cluster (alias IPs)", CLUSTER
)
def gke_vpc_native(resource: Resource) -> Iterator[str]:
    if (
        not resource.props.get("ipAllocationPolicy")
        and resource.props.get("networkingMode") != "VPC_NATIVE"
    ):
        yield "routes-based cluster: set ipAllocationPolicy (VPC-native)"


@SECTION.resource_control(
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
        # Compared as networks: 0.0.0.0/1 + 128.0.0.0/1, or any public range, is open too.
        if is_public(str(block.get("cidrBlock", ""))):
            yield f"authorized network {block.get('cidrBlock')} is a public range"


@SECTION.resource_control(
    "gke-logging-monitoring", ["CIS GKE 5.7.1"], "Cloud Logging and Cloud Monitoring", CLUSTER
)
def gke_logging_monitoring(resource: Resource) -> Iterator[str]:
    for key in ("loggingService", "monitoringService"):
        if resource.props.get(key) == "none":
            yield f"{key} is none"


@SECTION.resource_control(
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


@SECTION.resource_control(
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


@SECTION.resource_control(
    "gke-deletion-protection", ["hardening"], "Cluster deletion protection outside dev", CLUSTER
)
def gke_deletion_protection(resource: Resource) -> Iterator[str]:
    if resource.props.get("deletionProtection") is False and env_label(resource) != "dev":
        yield "deletionProtection=false outside dev"


@SECTION.stack_control(
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


@SECTION.resource_control(
    "gke-groups-for-rbac",
    ["CIS GKE 5.8.2"],
    "Google Groups for RBAC outside dev",
    CLUSTER,
)
def gke_groups_for_rbac(resource: Resource) -> Iterator[str]:
    if not get(resource.props, "authenticatorGroupsConfig.securityGroup") and (
        env_label(resource) != "dev"
    ):
        yield "no authenticatorGroupsConfig.securityGroup: RBAC cannot name Google Groups"


@SECTION.resource_control(
    "gke-maintenance-window",
    ["hardening (upgrade windows)"],
    "Upgrades happen in a maintenance window",
    CLUSTER,
)
def gke_maintenance_window(resource: Resource) -> Iterator[str]:
    policy = resource.props.get("maintenancePolicy") or {}
    if not (policy.get("recurringWindow") or policy.get("dailyMaintenanceWindow")):
        yield "no maintenancePolicy window: GKE may upgrade nodes at any hour"


@SECTION.stack_control(
    "gke-sandbox",
    ["CIS GKE 5.10.3"],
    "Untrusted workloads (pipeline steps) run in GKE Sandbox",
    CLUSTER,
    NODE_POOL,
)
def gke_sandbox(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    clusters = [r for r in resources if r.type == CLUSTER]
    pools = [r for r in resources if r.type == NODE_POOL]
    if clusters and not any(
        str(get(pool.props, "nodeConfig.sandboxConfig.type", "")).upper() == "GVISOR"
        for pool in pools
    ):
        yield clusters[0], "no node pool runs GKE Sandbox (sandboxConfig.type GVISOR)"


def _enforcing_clusters(resources: Sequence[Resource]) -> list[Resource]:
    return [
        r
        for r in resources
        if r.type == CLUSTER
        and get(r.props, "binaryAuthorization.evaluationMode") == "PROJECT_SINGLETON_POLICY_ENFORCE"
    ]


@SECTION.stack_control(
    "gke-binary-authorization-policy",
    ["checkov CKV_GCP_66"],
    "Enforced Binary Authorization has a policy that denies by default",
    CLUSTER,
    BINARY_AUTHORIZATION_POLICY,
)
def gke_binary_authorization_policy(
    resources: Sequence[Resource],
) -> Iterator[tuple[Resource | None, str]]:
    enforced = _enforcing_clusters(resources)
    if not enforced:
        return
    policies = [r for r in resources if r.type == BINARY_AUTHORIZATION_POLICY]
    if not policies:
        yield enforced[0], "enforcement without a Policy resource: the default policy admits all"
    for policy in policies:
        if get(policy.props, "defaultAdmissionRule.evaluationMode") == "ALWAYS_ALLOW":
            yield policy, "the default admission rule is ALWAYS_ALLOW: every image is admitted"


def _attestor_names(resources: Sequence[Resource]) -> set[str]:
    """Both spellings of each declared attestor: ``NAME`` and ``projects/PROJECT/attestors/NAME``."""
    return {
        name
        for r in resources
        if r.type == ATTESTOR
        for name in project_names(r.props, "attestors")
    }


def _image_repositories(resources: Sequence[Resource]) -> list[str]:
    """``LOCATION-docker.pkg.dev/PROJECT/REPOSITORY/`` of each Docker repository declared."""
    return [
        f"{r.props.get('location')}-docker.pkg.dev/{r.props.get('project')}/"
        f"{r.props.get('repositoryId')}/"
        for r in resources
        if r.type == REPOSITORY and r.props.get("format") == "DOCKER"
    ]


def _rule_findings(rule: Mapping[str, Any], attestors: set[str], dev: bool) -> Iterator[str]:
    if rule.get("evaluationMode") != "REQUIRE_ATTESTATION":
        yield (
            f"the default admission rule is {rule.get('evaluationMode') or '(none)'}, not "
            "REQUIRE_ATTESTATION: images are not checked for the CI attestation"
        )
        return
    required = [str(a) for a in rule.get("requireAttestationsBies") or []]
    if not required:
        yield "the admission rule requires no attestor"
    for name in required:
        if name not in attestors:
            yield f"the admission rule requires attestor {name}, which the stack does not declare"
    mode = rule.get("enforcementMode")
    if mode != "ENFORCED_BLOCK_AND_AUDIT_LOG" and not dev:
        yield (
            f"enforcementMode is {mode or '(none)'}: an image without attestation runs; outside "
            "dev it must be ENFORCED_BLOCK_AND_AUDIT_LOG"
        )


@SECTION.stack_control(
    "gke-binary-authorization-attestor",
    ["CIS GKE 5.10.5", "hardening (supply chain)"],
    "Enforced Binary Authorization requires the CI attestor (refusing, outside dev)",
    CLUSTER,
    BINARY_AUTHORIZATION_POLICY,
    ATTESTOR,
)
def gke_binary_authorization_attestor(
    resources: Sequence[Resource],
) -> Iterator[tuple[Resource | None, str]]:
    enforced = _enforcing_clusters(resources)
    if not enforced:
        return
    # Dry-run is dev's choice alone: every cluster of the stack must be labelled dev.
    dev = all(env_label(cluster) == "dev" for cluster in enforced)
    attestors = _attestor_names(resources)
    repositories = _image_repositories(resources)
    for policy in (r for r in resources if r.type == BINARY_AUTHORIZATION_POLICY):
        rule = get(policy.props, "defaultAdmissionRule", {})
        for finding in _rule_findings(rule, attestors, dev):
            yield policy, finding
        for entry in policy.props.get("admissionWhitelistPatterns") or []:
            stem = str(entry.get("namePattern") or "").split("*")[0]
            for repository in repositories:
                if repository.startswith(stem) or stem.startswith(repository):
                    yield (
                        policy,
                        f"whitelist pattern {entry.get('namePattern')} admits the images of "
                        f"{repository.rstrip('/')} without attestation",
                    )
