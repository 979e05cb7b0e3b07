"""Serving: the namespace where the kit's GKE deploy target rolls out model servers.

The namespace holds the server pods' Kubernetes service account, bound by Workload Identity to the
``serving`` Google account (read artifacts and metadata, write prediction logs), a NetworkPolicy
that admits only the cluster's own clients and the load balancer's proxies and health checks, and
the RBAC role that lets the deployer and the pipeline's deploy step apply Deployments, Services,
autoscalers, HTTPRoutes and health-check policies there, and nothing else.

It also holds the Gateway ``models`` the deploy target attaches one HTTPRoute per model alias to:
a GKE regional internal Application Load Balancer (class ``gke-l7-rilb``, an address of the VPC,
never the internet), whose route weights split an alias's traffic between its version and a canary
exactly. It answers on a reserved internal address of the cluster's subnet, so clients in the VPC
have a stable one (the ``url`` output, ``http://ADDRESS``): requests to
``http://ADDRESS/<alias name>/predict`` reach the alias. Its listener is HTTP
on port 80, as the Services behind it are: the traffic stays in the VPC, and it admits only routes
of its own namespace, so nothing of Kubeflow can be attached to it. An environment that prefers
another Gateway names it in the deploy URI (``?gateway=NAMESPACE/NAME``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi_gcp import serviceaccount

from infra.components import child_options
from infra.components.kfp_access import HEALTH_CHECK_RANGES, internal_address, internal_gateway
from infra.components.network_policy import ingress_policy, peers
from infra.policies.controls.kubernetes import MODEL_SERVING

SERVER_PORT = 8080
"""The port of ``mlops-kit serve`` in a container (``AIP_HTTP_PORT``'s default)."""
POD_SECURITY = {
    # The server runs as a non-root user without privileges: the strictest standard fits it.
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}
GATEWAY = "models"
"""The Gateway the deploy target's routes attach to (its default ``gateway``)."""


@dataclass(frozen=True)
class ServingArgs:
    """Inputs of :class:`Serving`."""

    provider: k8s.Provider
    """The Kubernetes provider of the cluster."""
    workload_pool: pulumi.Input[str]
    """The cluster's Workload Identity pool (``PROJECT.svc.id.goog``); bindings wait for it."""
    serving_account: pulumi.Input[str]
    """Resource name of the ``serving`` Google account (``projects/P/serviceAccounts/EMAIL``)."""
    serving_email: pulumi.Input[str]
    """Its email, written on the Kubernetes service account for Workload Identity."""
    deployers: dict[str, pulumi.Input[str]]
    """Google accounts that roll servers out (the deployer), by a short name."""
    pipeline_accounts: dict[str, str]
    """Kubernetes service accounts (``NAMESPACE/NAME``) of pipeline steps that deploy, by name."""
    region: str
    """Region of the cluster and of the Gateway's address."""
    subnet: pulumi.Input[str]
    """The cluster's subnet: the Gateway's address is reserved in it."""
    proxy_only_cidr: str
    """The region's proxy-only subnet: the Gateway's proxies reach the pods from it."""
    proxy_only_subnet: pulumi.Resource
    """That subnet: Google refuses the Gateway's load balancer until it exists."""
    namespace: str = "serving"
    """Namespace of the model servers."""
    service_account: str = "model-server"
    """Kubernetes service account of the server pods."""
    client_namespaces: tuple[str, ...] = ()
    """Namespaces whose pods may call the servers (the pipelines', for evaluation traffic)."""
    client_ranges: tuple[str, ...] = ()
    """Internal ranges (the VPC subnet, VPN) that may call the servers."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of the Gateway's address."""


class Serving(pulumi.ComponentResource):
    """The serving namespace, its Workload Identity account, Gateway, NetworkPolicy, deploy role."""

    namespace: pulumi.Output[str]
    service_account: pulumi.Output[str]
    gateway: pulumi.Output[str]
    url: pulumi.Output[str]

    def __init__(
        self, name: str, args: ServingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops-kit:gcp:Serving", name, None, opts)
        child = child_options(self, opts)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.namespace, labels=POD_SECURITY | MODEL_SERVING
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider),
        )
        in_namespace = pulumi.ResourceOptions(
            parent=self, provider=args.provider, depends_on=[namespace]
        )
        account = k8s.core.v1.ServiceAccount(
            f"{name}-ksa",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.service_account,
                namespace=args.namespace,
                annotations={"iam.gke.io/gcp-service-account": args.serving_email},
            ),
            # The server never calls the Kubernetes API.
            automount_service_account_token=False,
            opts=in_namespace,
        )
        # The pods may impersonate the serving account only, bound on that account (CIS GKE 5.2.2).
        serviceaccount.IAMMember(
            f"{name}-workload-identity",
            service_account_id=args.serving_account,
            role="roles/iam.workloadIdentityUser",
            member=pulumi.Output.concat(
                "serviceAccount:",
                args.workload_pool,
                f"[{args.namespace}/{args.service_account}]",
            ),
            opts=child,
        )
        # Internal: a reserved address of the VPC's subnet, reached by its clients only, and
        # kept when the Gateway is recreated.
        address = internal_address(
            f"{name}-address", f"{name}-gateway", args.region, args.subnet, args.labels, child
        )
        gateway = internal_gateway(
            f"{name}-gateway",
            GATEWAY,
            args.namespace,
            {"name": "http", "protocol": "HTTP", "port": 80},
            address.name,
            args.proxy_only_subnet,
            in_namespace,
        )
        self._network_policy(name, args, in_namespace)
        self._deploy_role(name, args, in_namespace)
        self.namespace = namespace.metadata.name
        self.service_account = account.metadata.name
        # Known once the Gateway is created.
        self.gateway = gateway.urn.apply(lambda _: GATEWAY)
        self.url = pulumi.Output.concat("http://", address.address)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "service_account": self.service_account,
                "gateway": self.gateway,
                "url": self.url,
            }
        )

    @staticmethod
    def _network_policy(name: str, args: ServingArgs, opts: pulumi.ResourceOptions) -> None:
        # Only the server's port, and only from the namespace, its client namespaces and ranges,
        # and the Gateway's proxies and Google's health checkers; kubelet probes are not subject
        # to NetworkPolicy.
        ranges = (*args.client_ranges, args.proxy_only_cidr, *HEALTH_CHECK_RANGES)
        ingress_policy(
            f"{name}-ingress",
            "mlops-kit-serving",
            args.namespace,
            opts,
            sources=peers(same_namespace=True, namespaces=args.client_namespaces, ranges=ranges),
            ports=[SERVER_PORT],
        )

    @staticmethod
    def _deploy_role(name: str, args: ServingArgs, opts: pulumi.ResourceOptions) -> None:
        write = ["get", "list", "watch", "create", "update", "patch", "delete"]
        role = k8s.rbac.v1.Role(
            f"{name}-deployer-role",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="mlops-kit-deployer", namespace=args.namespace
            ),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=["apps"], resources=["deployments"], verbs=write
                ),
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=["autoscaling"], resources=["horizontalpodautoscalers"], verbs=write
                ),
                k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["services"], verbs=write),
                # One route per alias on the Gateway; its weights split a canary's traffic.
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=["gateway.networking.k8s.io"], resources=["httproutes"], verbs=write
                ),
                # How the load balancer probes each route backend (the server's health route).
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=["networking.gke.io"], resources=["healthcheckpolicies"], verbs=write
                ),
                # The target checks the pods' account is bound to the serving Google account.
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=[""],
                    resources=["serviceaccounts"],
                    resource_names=[args.service_account],
                    verbs=["get"],
                ),
            ],
            opts=opts,
        )
        subjects = [
            # GKE names a Google account's Kubernetes user by its email.
            k8s.rbac.v1.SubjectArgs(kind="User", name=email, api_group="rbac.authorization.k8s.io")
            for email in args.deployers.values()
        ]
        for qualified in args.pipeline_accounts.values():
            account_namespace, _, account = qualified.partition("/")
            subjects.append(
                k8s.rbac.v1.SubjectArgs(
                    kind="ServiceAccount", name=account, namespace=account_namespace
                )
            )
        k8s.rbac.v1.RoleBinding(
            f"{name}-deployer-binding",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="mlops-kit-deployer", namespace=args.namespace
            ),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="Role", name=role.metadata.name
            ),
            subjects=subjects,
            opts=opts,
        )
