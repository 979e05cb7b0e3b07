"""Kubeflow: Kubeflow Pipelines (standalone, pinned) on the private cluster, reachable only privately
and only through Identity-Aware Proxy (:mod:`infra.components.kfp_access`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
from pulumi_gcp import compute, dns, projects, sql

from infra.components import child_options
from infra.components.kfp_access import (
    HEALTH_CHECK_RANGES,
    POD_PORTS,
    KfpAccess,
    KfpAccessArgs,
    internal_address,
)
from infra.components.kubeflow_manifests import (
    PROXY_IMAGE,
    OverlaySettings,
    pinned,
    write_overlays,
)
from infra.components.metadata_db import (
    MYSQL_FLAGS,
    PrivateInstanceArgs,
    instance_condition,
    private_instance,
)
from infra.components.network_policy import ingress_policy, peers

KFP_SYSTEM_KSA = "kfp-system"
CACHE_WEBHOOK_PORT = "8443"
"""Port of KFP's cache server, a mutating webhook the control plane must reach."""


@dataclass(frozen=True)
class KubeflowArgs:
    """Inputs of :class:`Kubeflow`."""

    project: str
    """Project of the Cloud SQL instance and DNS zone."""
    region: str
    """Region of the internal load balancer address."""
    environment: str
    """Stack name (the overlay's directory)."""
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
    """Pods and nodes of this range may reach KFP's pods (NetworkPolicy)."""
    proxy_only_cidr: str
    """Proxy-only subnet of the internal load balancer, whose proxies connect to the UI/API pods."""
    proxy_only_subnet: pulumi.Resource
    """That subnet, which must exist before the load balancer."""
    control_plane_cidr: str
    """Range of the private control plane, which calls KFP's cache webhook on the nodes."""
    overlay: OverlaySettings
    """What the local kustomize overlay sets on KFP's pinned manifests."""
    dns_domain: str
    """Private DNS zone; the UI/API answers at ``kfp.<dns_domain>``."""
    kfp_service_account: pulumi.Input[str]
    """Google SA of KFP's system pods (database proxy, artifact access)."""
    oauth_client_id: str
    """OAuth client of Identity-Aware Proxy in front of the UI/API."""
    oauth_client_secret: str
    """Secret Manager secret holding that client's secret."""
    accessors: dict[str, pulumi.Input[str]]
    """Name → IAM member allowed through IAP (the runner, the deployer, a group)."""
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
    audience: str
    """The OAuth client id: the audience of ID tokens IAP accepts."""
    ca_certificate: pulumi.Output[str]
    """PEM of the private CA that signs the UI/API's certificate (clients trust it)."""
    provider: k8s.Provider
    """The Kubernetes provider of the cluster, for the other namespaces the environment creates."""

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
        self.provider = provider
        on_cluster = pulumi.ResourceOptions(parent=self, provider=provider)
        overlays = write_overlays(args.environment, args.overlay)
        # KFP's cluster-scoped manifests create the namespace (with the overlay's Pod Security
        # labels), the CRDs and the cluster roles.
        cluster_scoped = k8s.kustomize.v2.Directory(
            f"{name}-cluster-scoped", directory=overlays["cluster-scoped"], opts=on_cluster
        )
        in_namespace = pulumi.ResourceOptions(
            parent=self, provider=provider, depends_on=[cluster_scoped]
        )
        # Secrets the manifests ship with fixed values are deleted from the build and owned here.
        secrets = [self._object_store_secret(name, args, in_namespace)]
        if args.database == "cloudsql":
            if args.mysql is None:
                raise ValueError("Kubeflow with database 'cloudsql' needs its MySQL instance args")
            secrets.append(self._cloudsql_database(name, args, child, in_namespace))
        installed = k8s.kustomize.v2.Directory(
            f"{name}-install",
            directory=overlays["install"],
            namespace=args.namespace,
            opts=pulumi.ResourceOptions(
                parent=self, provider=provider, depends_on=[cluster_scoped, *secrets]
            ),
        )
        compute.Firewall(
            f"{name}-cache-webhook",
            name=f"{name}-cache-webhook",
            network=args.network,
            direction="INGRESS",
            source_ranges=[args.control_plane_cidr],
            allows=[compute.FirewallAllowArgs(protocol="tcp", ports=[CACHE_WEBHOOK_PORT])],
            log_config=compute.FirewallLogConfigArgs(metadata="INCLUDE_ALL_METADATA"),
            opts=child,
        )
        # Only pods of this namespace, the node-local system and the VPC subnet may connect.
        ingress_policy(
            f"{name}-ingress",
            "mlops-kit-ingress",
            args.namespace,
            in_namespace,
            sources=peers(
                same_namespace=True, namespaces=["kube-system"], ranges=[args.subnet_cidr]
            ),
        )
        # NetworkPolicies add up: the UI and the API also accept the load balancer's proxies and
        # Google's health checkers, and the cache server the control plane, which calls it as a
        # mutating webhook.
        for policy, app, ranges, port in (
            *(
                (f"{app}-load-balancer", app, (args.proxy_only_cidr, *HEALTH_CHECK_RANGES), port)
                for app, port in POD_PORTS.items()
            ),
            ("cache-webhook", "cache-server", (args.control_plane_cidr,), int(CACHE_WEBHOOK_PORT)),
        ):
            ingress_policy(
                f"{name}-{policy}",
                f"mlops-kit-{policy}",
                args.namespace,
                in_namespace,
                pods={"app": app},
                sources=peers(ranges=ranges),
                ports=[port],
            )

        # The UI/API: an internal Application Load Balancer on a reserved address, behind IAP,
        # named in a private zone of the VPC. Nothing about it is reachable from the internet,
        # and nothing in the VPC reaches it without a Google identity IAP lets through.
        address = internal_address(
            f"{name}-ui-address", f"{name}-ui", args.region, args.subnet, args.labels, child
        )
        access = KfpAccess(
            f"{name}-access",
            KfpAccessArgs(
                project=args.project,
                region=args.region,
                host=f"kfp.{args.dns_domain}",
                address=address.name,
                oauth_client_id=args.oauth_client_id,
                oauth_client_secret=args.oauth_client_secret,
                accessors=args.accessors,
                provider=provider,
                installed=installed,
                proxy_only_subnet=args.proxy_only_subnet,
                namespace=args.namespace,
                labels=args.labels,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=child.depends_on),
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
        self.host = access.url
        self.audience = args.oauth_client_id
        self.ca_certificate = access.ca_certificate
        self.register_outputs({"host": self.host, "ca_certificate": self.ca_certificate})

    def _cloudsql_database(
        self,
        name: str,
        args: KubeflowArgs,
        child: pulumi.ResourceOptions,
        in_namespace: pulumi.ResourceOptions,
    ) -> k8s.core.v1.Secret:
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
                                image=pinned(PROXY_IMAGE, args.overlay.digests),
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
        # IAM login: the proxy injects the token, so KFP's database password stays empty. The
        # manifests' own mysql-secret (root, no password) is deleted from the build: one owner.
        return k8s.core.v1.Secret(
            f"{name}-mysql-secret",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="mysql-secret", namespace=args.namespace),
            string_data={"username": user.name, "password": ""},
            opts=in_namespace,
        )

    def _object_store_secret(
        self, name: str, args: KubeflowArgs, in_namespace: pulumi.ResourceOptions
    ) -> k8s.core.v1.Secret:
        """MinIO's credentials, generated (the manifests ship minio/minio123)."""
        keys = {
            key: random.RandomPassword(
                f"{name}-minio-{key}",
                length=length,
                special=False,
                opts=pulumi.ResourceOptions(parent=self),
            ).result
            for key, length in (("accesskey", 20), ("secretkey", 40))
        }
        return k8s.core.v1.Secret(
            f"{name}-minio-secret",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="mlpipeline-minio-artifact", namespace=args.namespace
            ),
            string_data=keys,
            opts=in_namespace,
        )
