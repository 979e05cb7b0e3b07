"""Cluster: a private GKE cluster for Kubeflow Pipelines, hardened to the CIS GKE benchmark."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import pulumi
from pulumi_gcp import binaryauthorization, container

from infra.components import child_options

PIPELINE_POOL = "pipelines"
"""The GKE Sandbox pool where pipeline steps (user code) run."""
OAUTH_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
# Images Binary Authorization admits without an attestation: the pinned upstream releases the
# program installs (Google's own system images are admitted by the global policy). Everything
# else, the projects' images included, needs the attestation CI signs for its digest.
ADMITTED_IMAGES = (
    "gcr.io/ml-pipeline/*",  # Kubeflow Pipelines
    "ghcr.io/kubeflow/*",
    "gcr.io/tfx-oss-public/*",  # ML Metadata, KFP's lineage store
    "quay.io/argoproj/*",  # Argo Workflows, KFP's engine
    "gcr.io/cloud-sql-connectors/*",  # Cloud SQL Auth Proxy
    "quay.io/oauth2-proxy/*",  # authentication in front of the KFP UI and API
)
ENFORCEMENT_MODES: Final[dict[str, str]] = {
    "enforced": "ENFORCED_BLOCK_AND_AUDIT_LOG",
    "dry-run": "DRYRUN_AUDIT_LOG_ONLY",
}
"""The stack's ``cluster.admission`` → how the cluster treats an image without attestation:
refused (and logged), or only logged."""
# GKE may upgrade the control plane and nodes on weekend nights only (UTC): two 8-hour windows a
# week leave GKE the 48 hours in 32 days it requires.
MAINTENANCE_WINDOW = ("2026-01-03T01:00:00Z", "2026-01-03T09:00:00Z", "FREQ=WEEKLY;BYDAY=SA,SU")


@dataclass(frozen=True)
class ClusterArgs:
    """Inputs of :class:`Cluster`."""

    project: str
    """Project of the cluster (its Workload Identity pool is ``<project>.svc.id.goog``)."""
    region: str
    """Region: a regional cluster keeps its control plane in three zones."""
    network: pulumi.Input[str]
    """VPC self link."""
    subnet: pulumi.Input[str]
    """Subnet self link, with the secondary ranges below."""
    pods_range: str
    """Name of the subnet's secondary range for pods."""
    services_range: str
    """Name of the subnet's secondary range for services."""
    control_plane_cidr: str
    """/28 range of the private control plane."""
    authorized_networks: Sequence[tuple[str, str]]
    """(cidr, name) pairs that may reach the control plane's private endpoint."""
    node_service_account: pulumi.Input[str]
    """Dedicated node service account (never the Compute Engine default)."""
    attestor: pulumi.Input[str]
    """``projects/PROJECT/attestors/NAME``: images not listed in :data:`ADMITTED_IMAGES` need its
    attestation."""
    admission: str = "enforced"
    """``enforced`` refuses an image without attestation; ``dry-run`` admits it and writes the
    refusal it would have been to the audit log (dev only)."""
    release_channel: str = "REGULAR"
    """``RAPID``, ``REGULAR`` or ``STABLE``: GKE upgrades the control plane and nodes within it."""
    system_machine_type: str = "e2-standard-4"
    """Machine type of the always-on system pool (Kubeflow's own services)."""
    system_max_nodes: int = 3
    """Upper bound of the system pool per zone."""
    pipeline_machine_type: str = "e2-standard-8"
    """Machine type of the pipeline pool."""
    pipeline_max_nodes: int = 5
    """Upper bound of the pipeline pool per zone; its lower bound is 0 (scale to zero)."""
    deletion_protection: bool = True
    """Refuse ``pulumi destroy``; only dev turns it off."""
    security_group: str | None = None
    """``gke-security-groups@DOMAIN`` for RBAC through Google Groups."""
    secrets_key: pulumi.Input[str] | None = None
    """Cloud KMS key for application-layer secrets encryption."""
    disk_key: pulumi.Input[str] | None = None
    """Cloud KMS key of node boot disks."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of the cluster and its nodes."""


class Cluster(pulumi.ComponentResource):
    """Private nodes, private endpoint, Workload Identity, Dataplane V2, shielded COS nodes."""

    cluster: container.Cluster
    name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    """The control plane's address, available once the node pools exist: Kubernetes objects
    reach the cluster through it, so they wait for nodes that can run them."""
    ca_certificate: pulumi.Output[str]
    workload_pool: pulumi.Output[str]
    """The Workload Identity pool, which exists once the cluster does."""

    def __init__(
        self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops-kit:gcp:Cluster", name, None, opts)
        child = child_options(self, opts)
        # Enforcement without a policy of ours would apply the project's default (allow all).
        policy = binaryauthorization.Policy(
            f"{name}-binary-authorization",
            project=args.project,
            global_policy_evaluation_mode="ENABLE",
            admission_whitelist_patterns=[
                binaryauthorization.PolicyAdmissionWhitelistPatternArgs(name_pattern=pattern)
                for pattern in ADMITTED_IMAGES
            ],
            default_admission_rule=binaryauthorization.PolicyDefaultAdmissionRuleArgs(
                evaluation_mode="REQUIRE_ATTESTATION",
                require_attestations_bies=[args.attestor],
                enforcement_mode=ENFORCEMENT_MODES[args.admission],
            ),
            opts=child,
        )
        self.cluster = container.Cluster(
            f"{name}-gke",
            name=f"{name}-gke",
            location=args.region,
            network=args.network,
            subnetwork=args.subnet,
            # Node pools are separate resources; the default pool is created and removed at once.
            remove_default_node_pool=True,
            initial_node_count=1,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=args.pods_range,
                services_secondary_range_name=args.services_range,
            ),
            private_cluster_config=container.ClusterPrivateClusterConfigArgs(
                enable_private_nodes=True,
                enable_private_endpoint=True,
                master_ipv4_cidr_block=args.control_plane_cidr,
                master_global_access_config=container.ClusterPrivateClusterConfigMasterGlobalAccessConfigArgs(
                    enabled=False
                ),
            ),
            master_authorized_networks_config=container.ClusterMasterAuthorizedNetworksConfigArgs(
                cidr_blocks=[
                    container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
                        cidr_block=cidr, display_name=label
                    )
                    for cidr, label in args.authorized_networks
                ],
            ),
            master_auth=container.ClusterMasterAuthArgs(
                client_certificate_config=container.ClusterMasterAuthClientCertificateConfigArgs(
                    issue_client_certificate=False
                )
            ),
            workload_identity_config=container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=f"{args.project}.svc.id.goog"
            ),
            release_channel=container.ClusterReleaseChannelArgs(channel=args.release_channel),
            # The Gateway API installs the GatewayClasses of Google's load balancers: KFP's UI
            # and API are served by an internal Application Load Balancer with IAP.
            gateway_api_config=container.ClusterGatewayApiConfigArgs(channel="CHANNEL_STANDARD"),
            enable_shielded_nodes=True,
            enable_legacy_abac=False,
            enable_kubernetes_alpha=False,
            enable_intranode_visibility=True,
            # Dataplane V2 enforces NetworkPolicy (Kubeflow's namespace ships one).
            datapath_provider="ADVANCED_DATAPATH",
            logging_service="logging.googleapis.com/kubernetes",
            monitoring_service="monitoring.googleapis.com/kubernetes",
            binary_authorization=container.ClusterBinaryAuthorizationArgs(
                evaluation_mode="PROJECT_SINGLETON_POLICY_ENFORCE"
            ),
            maintenance_policy=container.ClusterMaintenancePolicyArgs(
                recurring_window=container.ClusterMaintenancePolicyRecurringWindowArgs(
                    start_time=MAINTENANCE_WINDOW[0],
                    end_time=MAINTENANCE_WINDOW[1],
                    recurrence=MAINTENANCE_WINDOW[2],
                )
            ),
            security_posture_config=container.ClusterSecurityPostureConfigArgs(
                mode="BASIC", vulnerability_mode="VULNERABILITY_BASIC"
            ),
            database_encryption=(
                container.ClusterDatabaseEncryptionArgs(
                    state="ENCRYPTED", key_name=args.secrets_key
                )
                if args.secrets_key is not None
                else None
            ),
            authenticator_groups_config=(
                container.ClusterAuthenticatorGroupsConfigArgs(security_group=args.security_group)
                if args.security_group
                else None
            ),
            # The default pool exists for a moment only; it must still not use the default SA.
            node_config=container.ClusterNodeConfigArgs(
                **self._node_config(args, args.system_machine_type, sandbox=False)
            ),
            resource_labels=args.labels,
            deletion_protection=args.deletion_protection,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[policy])),
        )
        pools = {
            # Kubeflow's own services: always at least one node.
            "system": (args.system_machine_type, 1, args.system_max_nodes, False),
            # Pipeline steps run user code: GKE Sandbox (gVisor), and zero nodes between runs.
            PIPELINE_POOL: (args.pipeline_machine_type, 0, args.pipeline_max_nodes, True),
        }
        node_pools = []
        for pool, (machine_type, minimum, maximum, sandbox) in pools.items():
            node_pool = container.NodePool(
                f"{name}-{pool}",
                name=pool,
                cluster=self.cluster.id,
                location=args.region,
                initial_node_count=minimum,
                autoscaling=container.NodePoolAutoscalingArgs(
                    min_node_count=minimum, max_node_count=maximum
                ),
                management=container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
                node_config=container.NodePoolNodeConfigArgs(
                    **self._node_config(args, machine_type, sandbox=sandbox)
                ),
                opts=child,
            )
            node_pools.append(node_pool)
        self.name = self.cluster.name
        self.endpoint = pulumi.Output.all(
            self.cluster.endpoint, *(pool.id for pool in node_pools)
        ).apply(lambda values: str(values[0]))
        self.workload_pool = self.cluster.workload_identity_config.apply(
            lambda config: config.workload_pool if config and config.workload_pool else ""
        )
        self.ca_certificate = self.cluster.master_auth.apply(
            lambda auth: auth.cluster_ca_certificate or ""
        )
        self.register_outputs({"name": self.name, "endpoint": self.endpoint})

    @staticmethod
    def _node_config(args: ClusterArgs, machine_type: str, *, sandbox: bool) -> dict[str, Any]:
        # A plain mapping: the same settings serve the cluster's and the node pools' node_config.
        config: dict[str, Any] = {
            "machine_type": machine_type,
            "image_type": "COS_CONTAINERD",
            "service_account": args.node_service_account,
            "oauth_scopes": OAUTH_SCOPES,
            "workload_metadata_config": {"mode": "GKE_METADATA"},
            "shielded_instance_config": {
                "enable_secure_boot": True,
                "enable_integrity_monitoring": True,
            },
            "resource_labels": args.labels,
        }
        if sandbox:
            # GKE taints sandbox nodes itself; steps opt in with runtimeClassName: gvisor.
            config["sandbox_config"] = {"type": "GVISOR"}
        if args.disk_key is not None:
            config["boot_disk_kms_key"] = args.disk_key
        return config
