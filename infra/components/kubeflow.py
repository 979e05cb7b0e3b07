"""Kubeflow: Kubeflow Pipelines (standalone, pinned) on the private cluster, reachable only privately."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pulumi
import pulumi_kubernetes as k8s
from pulumi_gcp import compute, dns, projects, sql

from infra.components import child_options
from infra.components.identity import KUBERNETES_SERVICE_ACCOUNTS
from infra.components.metadata_db import (
    MYSQL_FLAGS,
    PrivateInstanceArgs,
    instance_condition,
    private_instance,
)

MANIFESTS = "https://github.com/kubeflow/pipelines/tree/{version}/manifests/kustomize/{path}"
# KFP's own services when its database is Cloud SQL: the parts of KFP's "gcp" environment
# without the public inverse proxy (the UI stays private) and without the in-cluster MySQL.
CLOUDSQL_PARTS = (
    "base/installs/generic",
    "base/metadata/base",
    "third-party/argo/installs/namespace",
    "third-party/minio/base",
)
# In dev, KFP's platform-agnostic environment brings its own MySQL pod.
IN_CLUSTER_PARTS = ("env/platform-agnostic",)
PROXY_IMAGE = "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.3"
KFP_SYSTEM_KSA = "kfp-system"


@dataclass(frozen=True)
class KubeflowArgs:
    """Inputs of :class:`Kubeflow`."""

    project: str
    """Project of the Cloud SQL instance and DNS zone."""
    region: str
    """Region of the internal load balancer address."""
    version: str
    """Pinned KFP release (a tag of kubeflow/pipelines)."""
    cluster_name: pulumi.Input[str]
    """GKE cluster to install into."""
    cluster_endpoint: pulumi.Input[str]
    """Private endpoint of the cluster's control plane."""
    cluster_ca_certificate: pulumi.Input[str]
    """Base64 CA certificate of the control plane."""
    network: pulumi.Input[str]
    """VPC of the private DNS zone and the Cloud SQL instance."""
    subnet: pulumi.Input[str]
    """Subnet of the internal load balancer."""
    subnet_cidr: str
    """Clients in this range may reach the UI/API (NetworkPolicy)."""
    dns_domain: str
    """Private DNS zone; the UI/API answers at ``kfp.<dns_domain>``."""
    pipeline_root: pulumi.Input[str]
    """Default pipeline root on GCS (``gs://bucket/pipeline-root``)."""
    kfp_service_account: pulumi.Input[str]
    """Google SA of KFP's system pods (database proxy, artifact access)."""
    pipeline_runner_service_account: pulumi.Input[str]
    """Google SA that pipeline steps run as (through Workload Identity)."""
    database: str = "cloudsql"
    """``cloudsql`` (Cloud SQL for MySQL) or ``in-cluster`` (a MySQL pod, dev only)."""
    mysql: PrivateInstanceArgs | None = None
    """The MySQL instance when ``database`` is ``cloudsql``."""
    namespace: str = "kubeflow"
    """Namespace of KFP (its cluster-scoped manifests assume ``kubeflow``)."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of the Google resources (address, zone, instance)."""


def kubeconfig(name: str, endpoint: str, ca_certificate: str) -> str:
    """A kubeconfig that authenticates with gcloud's GKE plugin (no static credentials)."""
    return f"""apiVersion: v1
kind: Config
clusters:
- name: {name}
  cluster:
    server: https://{endpoint}
    certificate-authority-data: {ca_certificate}
contexts:
- name: {name}
  context: {{cluster: {name}, user: {name}}}
current-context: {name}
users:
- name: {name}
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: gke-gcloud-auth-plugin
      provideClusterInfo: true
      interactiveMode: Never
"""


class Kubeflow(pulumi.ComponentResource):
    """KFP's manifests, its database, Workload Identity, Pod Security, NetworkPolicy, private access."""

    host: pulumi.Output[str]

    def __init__(
        self, name: str, args: KubeflowArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops-kit:gcp:Kubeflow", name, None, opts)
        child = child_options(self, opts)
        config: pulumi.Output[str] = pulumi.Output.all(
            args.cluster_name, args.cluster_endpoint, args.cluster_ca_certificate
        ).apply(lambda v: kubeconfig(str(v[0]), str(v[1]), str(v[2])))
        secret_config: pulumi.Output[str] = pulumi.Output.secret(config)
        provider = k8s.Provider(
            f"{name}-k8s",
            # Not a credential (gcloud's plugin supplies tokens), but it names a private endpoint.
            kubeconfig=secret_config,
            enable_server_side_apply=True,
            opts=child,
        )
        on_cluster = pulumi.ResourceOptions(parent=self, provider=provider)
        # KFP's cluster-scoped manifests create the namespace (and CRDs, cluster roles).
        cluster_scoped = k8s.kustomize.v2.Directory(
            f"{name}-cluster-scoped",
            directory=MANIFESTS.format(version=args.version, path="cluster-scoped-resources"),
            opts=on_cluster,
        )
        # Pod Security Standards on it: enforce baseline (CIS GKE 4.2.1), report restricted.
        # A patch, not a second declaration: the namespace has one owner.
        namespace = k8s.core.v1.NamespacePatch(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaPatchArgs(
                name=args.namespace,
                labels={
                    "pod-security.kubernetes.io/enforce": "baseline",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                    "pod-security.kubernetes.io/warn": "restricted",
                    "pod-security.kubernetes.io/audit": "restricted",
                },
            ),
            opts=pulumi.ResourceOptions(
                parent=self, provider=provider, depends_on=[cluster_scoped]
            ),
        )
        in_namespace = pulumi.ResourceOptions(
            parent=self, provider=provider, depends_on=[namespace]
        )
        parts = CLOUDSQL_PARTS if args.database == "cloudsql" else IN_CLUSTER_PARTS
        installed = [
            k8s.kustomize.v2.Directory(
                f"{name}-{part.replace('/', '-')}",
                directory=MANIFESTS.format(version=args.version, path=part),
                namespace=args.namespace,
                opts=pulumi.ResourceOptions(
                    parent=self, provider=provider, depends_on=[namespace, cluster_scoped]
                ),
            )
            for part in parts
        ]
        after_install = pulumi.ResourceOptions(
            parent=self, provider=provider, depends_on=[namespace, *installed]
        )

        # KFP's own Kubernetes service accounts impersonate Google ones (Workload Identity).
        google_accounts = {
            "pipeline_runner": args.pipeline_runner_service_account,
            "kfp": args.kfp_service_account,
        }
        for ksa, workload in KUBERNETES_SERVICE_ACCOUNTS.items():
            if ksa == KFP_SYSTEM_KSA:
                continue  # created below with the database proxy, annotated at creation
            k8s.core.v1.ServiceAccountPatch(
                f"{name}-{ksa}-ksa",
                metadata=k8s.meta.v1.ObjectMetaPatchArgs(
                    name=ksa,
                    namespace=args.namespace,
                    annotations={"iam.gke.io/gcp-service-account": google_accounts[workload]},
                ),
                opts=after_install,
            )
        k8s.core.v1.ConfigMapPatch(
            f"{name}-install-config",
            metadata=k8s.meta.v1.ObjectMetaPatchArgs(
                name="pipeline-install-config", namespace=args.namespace
            ),
            data={"defaultPipelineRoot": args.pipeline_root},
            opts=after_install,
        )
        if args.database == "cloudsql":
            if args.mysql is None:
                raise ValueError("Kubeflow with database 'cloudsql' needs its MySQL instance args")
            self._cloudsql_database(name, args, child, in_namespace, after_install)

        # Only pods of this namespace, the node-local system and the VPC subnet may connect.
        k8s.networking.v1.NetworkPolicy(
            f"{name}-ingress",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="mlops-kit-ingress", namespace=args.namespace),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                policy_types=["Ingress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                pod_selector=k8s.meta.v1.LabelSelectorArgs()
                            ),
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels={"kubernetes.io/metadata.name": "kube-system"}
                                )
                            ),
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                ip_block=k8s.networking.v1.IPBlockArgs(cidr=args.subnet_cidr)
                            ),
                        ]
                    )
                ],
            ),
            opts=in_namespace,
        )

        # The UI/API: an internal passthrough load balancer on a reserved address, named in a
        # private zone of the VPC. Nothing about it is reachable from the internet.
        address = compute.Address(
            f"{name}-ui-address",
            name=f"{name}-ui",
            region=args.region,
            subnetwork=args.subnet,
            address_type="INTERNAL",
            labels=args.labels,
            opts=child,
        )
        k8s.core.v1.Service(
            f"{name}-ui-internal",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="ml-pipeline-ui-internal",
                namespace=args.namespace,
                annotations={
                    "networking.gke.io/load-balancer-type": "Internal",
                    "networking.gke.io/load-balancer-ip-addresses": address.name,
                },
            ),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="LoadBalancer",
                selector={"app": "ml-pipeline-ui"},
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=80, target_port=3000)],
            ),
            opts=after_install,
        )
        zone = dns.ManagedZone(
            f"{name}-zone",
            name=f"{name}-private",
            dns_name=f"{args.dns_domain}.",
            visibility="private",
            private_visibility_config=dns.ManagedZonePrivateVisibilityConfigArgs(
                networks=[
                    dns.ManagedZonePrivateVisibilityConfigNetworkArgs(network_url=args.network)
                ]
            ),
            labels=args.labels,
            opts=child,
        )
        dns.RecordSet(
            f"{name}-ui-record",
            managed_zone=zone.name,
            name=f"kfp.{args.dns_domain}.",
            type="A",
            ttl=300,
            rrdatas=[address.address],
            opts=child,
        )
        self.host = pulumi.Output.from_input(f"http://kfp.{args.dns_domain}")
        self.register_outputs({"host": self.host})

    def _cloudsql_database(
        self,
        name: str,
        args: KubeflowArgs,
        child: pulumi.ResourceOptions,
        in_namespace: pulumi.ResourceOptions,
        after_install: pulumi.ResourceOptions,
    ) -> None:
        """KFP's database on Cloud SQL for MySQL, reached through the Auth Proxy with IAM login."""
        assert args.mysql is not None
        instance = private_instance(
            f"{name}-mysql",
            replace(args.mysql, flags={**MYSQL_FLAGS, **args.mysql.flags}),
            child,
        )
        # MySQL IAM users are named after the part of the email before '@'.
        user = sql.User(
            f"{name}-mysql-user",
            instance=instance.name,
            name=pulumi.Output.from_input(args.kfp_service_account).apply(
                lambda email: email.split("@")[0]
            ),
            type="CLOUD_IAM_SERVICE_ACCOUNT",
            # KFP creates its own databases and tables on first start; the instance serves KFP only.
            database_roles=["cloudsqlsuperuser"],
            opts=pulumi.ResourceOptions(parent=self),
        )
        for role in ("roles/cloudsql.client", "roles/cloudsql.instanceUser"):
            projects.IAMMember(
                f"{name}-mysql-{role.split('.')[-1].lower()}",
                project=args.project,
                role=role,
                member=pulumi.Output.concat("serviceAccount:", args.kfp_service_account),
                condition=instance_condition(args.project, args.mysql.instance_name),
                opts=pulumi.ResourceOptions(parent=self),
            )
        ksa = k8s.core.v1.ServiceAccount(
            f"{name}-kfp-system-ksa",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=KFP_SYSTEM_KSA,
                namespace=args.namespace,
                annotations={"iam.gke.io/gcp-service-account": args.kfp_service_account},
            ),
            automount_service_account_token=False,
            opts=in_namespace,
        )
        labels = {"app": "mysql"}
        # The proxy answers as service "mysql", where KFP's configuration looks for its database.
        k8s.apps.v1.Deployment(
            f"{name}-cloudsql-proxy",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="cloudsql-proxy", namespace=args.namespace),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=2,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=ksa.metadata.name,
                        security_context=k8s.core.v1.PodSecurityContextArgs(
                            run_as_non_root=True,
                            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                        ),
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name="cloud-sql-proxy",
                                image=PROXY_IMAGE,
                                args=[
                                    "--private-ip",
                                    "--auto-iam-authn",
                                    "--structured-logs",
                                    "--address=0.0.0.0",
                                    "--port=3306",
                                    instance.connection_name,
                                ],
                                ports=[k8s.core.v1.ContainerPortArgs(container_port=3306)],
                                security_context=k8s.core.v1.SecurityContextArgs(
                                    allow_privilege_escalation=False,
                                    read_only_root_filesystem=True,
                                    capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                                ),
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests={"cpu": "100m", "memory": "128Mi"}
                                ),
                            )
                        ],
                    ),
                ),
            ),
            opts=in_namespace,
        )
        k8s.core.v1.Service(
            f"{name}-mysql-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="mysql", namespace=args.namespace),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector=labels, ports=[k8s.core.v1.ServicePortArgs(port=3306, target_port=3306)]
            ),
            opts=in_namespace,
        )
        # IAM login: the proxy injects the token, so KFP's database password stays empty.
        k8s.core.v1.SecretPatch(
            f"{name}-mysql-secret",
            metadata=k8s.meta.v1.ObjectMetaPatchArgs(name="mysql-secret", namespace=args.namespace),
            string_data={"username": user.name, "password": ""},
            opts=after_install,
        )
