"""Who may reach Kubeflow Pipelines: an internal HTTPS load balancer with Identity-Aware Proxy.

The UI and the API answer only behind a GKE Gateway of class ``gke-l7-rilb`` (a regional internal
Application Load Balancer on a reserved address of the VPC) whose backends have IAP on: every
request carries a Google identity that IAP checks against ``roles/iap.httpsResourceAccessor``
before it reaches a pod. Browsers sign in through the OAuth client; the kit sends an ID token
whose audience is that client's id (``kfp+https://HOST?audience=CLIENT_ID``).

TLS: the host is a name of a private DNS zone on an internal address, which no public CA can
validate (Google-managed certificates need DNS or load-balancer authorization from the internet).
So Certificate Manager issues and renews a regional certificate from a private CA of CA Service;
clients trust that CA (its certificate is the ``ca_certificate`` output).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi_gcp import (
    certificateauthority,
    certificatemanager,
    compute,
    iap,
    projects,
    secretmanager,
)

from infra.components import child_options
from infra.policies.controls.kubernetes import INTERNAL_GATEWAY_CLASS

GATEWAY = "kfp"
GATEWAY_CLASS = INTERNAL_GATEWAY_CLASS
"""GKE's regional internal Application Load Balancer (the only internal class with IAP)."""
IAP_ROLE = "roles/iap.httpsResourceAccessor"
HEALTH_CHECK_RANGES = ("35.191.0.0/16", "130.211.0.0/22")
"""Google's health checkers, which probe the backends from outside the VPC's ranges."""
BACKENDS = {
    # Service → (port, health-check path): the API server answers 404 on "/".
    "ml-pipeline-ui": (80, "/"),
    "ml-pipeline": (8888, "/apis/v2beta1/healthz"),
}
POD_PORTS = {"ml-pipeline-ui": 3000, "ml-pipeline": 8888}
"""The container ports behind those Services: the load balancer's proxies connect to pods."""
OAUTH_SECRET = "kfp-iap-oauth-client"  # noqa: S105 (the Secret's name)
"""Kubernetes Secret with the OAuth client's secret (key ``key``), read by the GCPBackendPolicy."""
CERTIFICATE_LIFETIME = f"{30 * 24 * 3600}s"
"""30 days, the longest Certificate Manager issues from a CA pool (21 to 30 days)."""
ROTATION_WINDOW_PERCENTAGE = 34
"""Certificate Manager renews once this share of the lifetime has elapsed (day 10 of 30): it
must leave at least 7 days after issuance and 7 before expiry."""


@dataclass(frozen=True)
class KfpAccessArgs:
    """Inputs of :class:`KfpAccess`."""

    project: str
    """Project of the CA, the certificate, the OAuth secret and the IAP grants."""
    region: str
    """Region of the load balancer, its certificate and the CA."""
    host: str
    """DNS name of the UI and API (``kfp.<dns_domain>``)."""
    address: pulumi.Input[str]
    """Name of the reserved internal address the load balancer answers on."""
    oauth_client_id: str
    """OAuth client IAP signs users in with (the audience of the kit's ID tokens)."""
    oauth_client_secret: str
    """Secret Manager secret holding that client's secret."""
    accessors: dict[str, pulumi.Input[str]]
    """Name → IAM member that may use the UI and API (runner, deployer, a group)."""
    provider: k8s.Provider
    """The cluster's Kubernetes provider."""
    installed: pulumi.Resource
    """KFP's install: the Services the route names exist after it."""
    proxy_only_subnet: pulumi.Resource
    """The region's proxy-only subnet: Google refuses the load balancer until it exists."""
    namespace: str = "kubeflow"
    labels: dict[str, str] = field(default_factory=dict)


class KfpAccess(pulumi.ComponentResource):
    """Gateway, route, IAP policies, private-CA certificate and IAP grants for KFP's UI and API."""

    url: pulumi.Output[str]
    ca_certificate: pulumi.Output[str]

    def __init__(
        self, name: str, args: KfpAccessArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops-kit:gcp:KfpAccess", name, None, opts)
        child = child_options(self, opts)
        certificate, self.ca_certificate = self._certificate(name, args, child)
        on_cluster = pulumi.ResourceOptions(
            parent=self, provider=args.provider, depends_on=[args.installed]
        )
        oauth_secret = self._oauth_secret(name, args, child, on_cluster)
        internal_gateway(
            f"{name}-gateway",
            GATEWAY,
            args.namespace,
            # HTTPS only: no listener on port 80 would carry IAP's cookies in clear text.
            {
                "name": "https",
                "protocol": "HTTPS",
                "port": 443,
                "hostname": args.host,
                "tls": {
                    "mode": "Terminate",
                    "options": {"networking.gke.io/cert-manager-certs": certificate.name},
                },
            },
            args.address,
            args.proxy_only_subnet,
            on_cluster,
        )
        k8s.apiextensions.CustomResource(
            f"{name}-route",
            api_version="gateway.networking.k8s.io/v1",
            kind="HTTPRoute",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="kfp", namespace=args.namespace),
            spec={
                "parentRefs": [{"name": GATEWAY}],
                "hostnames": [args.host],
                "rules": [
                    # The API directly (the SDK's calls), everything else to the UI.
                    _rule("/apis/", "ml-pipeline"),
                    _rule("/", "ml-pipeline-ui"),
                ],
            },
            opts=on_cluster,
        )
        for service, (_port, path) in BACKENDS.items():
            iap_config = {
                "enabled": True,
                "clientID": args.oauth_client_id,
                "oauth2ClientSecret": {"name": oauth_secret.metadata.name},
            }
            _service_policy(
                name, service, "iap", "GCPBackendPolicy", {"iap": iap_config}, args, on_cluster
            )
            # The serving port of each pod; only the path differs.
            health = {"type": "HTTP", "httpHealthCheck": {"requestPath": path}}
            _service_policy(
                name, service, "health", "HealthCheckPolicy", {"config": health}, args, on_cluster
            )
        # The load balancer's backend services get generated names; the grant is on every
        # IAP-secured web resource of the project, narrowed to this host by its condition. Not
        # on the "compute" web type: that one holds the global backend services, and this load
        # balancer's are regional (iap_web/compute-REGION), which inherit from iap_web alone.
        for who, member in sorted(args.accessors.items()):
            iap.WebIamMember(
                f"{name}-iap-{who}",
                project=args.project,
                role=IAP_ROLE,
                member=member,
                condition=iap.WebIamMemberConditionArgs(
                    title=f"kfp-{who}",
                    description="Kubeflow Pipelines UI and API only",
                    expression=f'request.host == "{args.host}"',
                ),
                opts=child,
            )
        self.url = pulumi.Output.from_input(f"https://{args.host}")
        self.register_outputs({"url": self.url, "ca_certificate": self.ca_certificate})

    def _certificate(
        self, name: str, args: KfpAccessArgs, child: pulumi.ResourceOptions
    ) -> tuple[certificatemanager.Certificate, pulumi.Output[str]]:
        """A regional certificate for the host, issued and renewed from a private CA."""
        pool = certificateauthority.CaPool(
            f"{name}-ca-pool",
            name=f"{name}-ca",
            location=args.region,
            # DevOps tier: high-volume short-lived certificates, none stored or revocable one by
            # one (rotation replaces them).
            tier="DEVOPS",
            labels=args.labels,
            opts=child,
        )
        authority = certificateauthority.Authority(
            f"{name}-ca",
            certificate_authority_id=f"{name}-root",
            location=args.region,
            pool=pool.name,
            type="SELF_SIGNED",
            lifetime=f"{10 * 365 * 24 * 3600}s",
            key_spec=certificateauthority.AuthorityKeySpecArgs(algorithm="EC_P256_SHA256"),
            config=certificateauthority.AuthorityConfigArgs(
                subject_config=certificateauthority.AuthorityConfigSubjectConfigArgs(
                    subject=certificateauthority.AuthorityConfigSubjectConfigSubjectArgs(
                        organization="mlops-kit", common_name=f"{name} private CA"
                    )
                ),
                x509_config=certificateauthority.AuthorityConfigX509ConfigArgs(
                    ca_options=certificateauthority.AuthorityConfigX509ConfigCaOptionsArgs(
                        is_ca=True
                    ),
                    key_usage=certificateauthority.AuthorityConfigX509ConfigKeyUsageArgs(
                        base_key_usage=certificateauthority.AuthorityConfigX509ConfigKeyUsageBaseKeyUsageArgs(
                            cert_sign=True, crl_sign=True
                        ),
                        # It signs the load balancer's server certificates, nothing else.
                        extended_key_usage=certificateauthority.AuthorityConfigX509ConfigKeyUsageExtendedKeyUsageArgs(
                            server_auth=True
                        ),
                    ),
                ),
            ),
            deletion_protection=True,
            labels=args.labels,
            opts=child,
        )
        # Certificate Manager requests certificates from the pool as its service agent, which
        # exists only once the ServiceIdentity has created it.
        agent = projects.ServiceIdentity(
            f"{name}-certificate-manager-agent",
            project=args.project,
            service="certificatemanager.googleapis.com",
            opts=child,
        )
        requester = certificateauthority.CaPoolIamMember(
            f"{name}-ca-requester",
            ca_pool=pool.id,
            role="roles/privateca.certificateRequester",
            member=pulumi.Output.concat("serviceAccount:", agent.email),
            opts=child,
        )
        issuance = certificatemanager.CertificateIssuanceConfig(
            f"{name}-issuance",
            name=f"{name}-issuance",
            location=args.region,
            certificate_authority_config=certificatemanager.CertificateIssuanceConfigCertificateAuthorityConfigArgs(
                certificate_authority_service_config=certificatemanager.CertificateIssuanceConfigCertificateAuthorityConfigCertificateAuthorityServiceConfigArgs(
                    ca_pool=pool.id
                )
            ),
            key_algorithm="ECDSA_P256",
            lifetime=CERTIFICATE_LIFETIME,
            rotation_window_percentage=ROTATION_WINDOW_PERCENTAGE,
            labels=args.labels,
            # Issuing needs an enabled CA and the agent's grant on its pool.
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[authority, requester])
            ),
        )
        certificate = certificatemanager.Certificate(
            f"{name}-certificate",
            name=f"{name}-kfp",
            location=args.region,
            managed=certificatemanager.CertificateManagedArgs(
                domains=[args.host], issuance_config=issuance.id
            ),
            labels=args.labels,
            opts=child,
        )
        return certificate, authority.pem_ca_certificates.apply(lambda pems: "".join(pems or []))

    def _oauth_secret(
        self,
        name: str,
        args: KfpAccessArgs,
        child: pulumi.ResourceOptions,
        on_cluster: pulumi.ResourceOptions,
    ) -> k8s.core.v1.Secret:
        """The OAuth client's secret, copied from Secret Manager to where the policy reads it."""
        version = secretmanager.get_secret_version_output(
            project=args.project,
            secret=args.oauth_client_secret,
            opts=pulumi.InvokeOutputOptions(depends_on=child.depends_on),
        )
        return k8s.core.v1.Secret(
            f"{name}-oauth-client",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=OAUTH_SECRET, namespace=args.namespace),
            string_data={"key": pulumi.Output.secret(version.secret_data)},
            opts=on_cluster,
        )


def internal_address(
    resource_name: str,
    name: str,
    region: str,
    subnet: pulumi.Input[str],
    labels: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> compute.Address:
    """A reserved regional internal address of ``subnet`` for an internal Gateway to answer on.

    GKE takes a ``gke-l7-rilb`` Gateway's named address from the cluster's subnet (never the
    proxy-only one, whose addresses belong to the proxies), reserved for an endpoint.
    """
    return compute.Address(
        resource_name,
        name=name,
        region=region,
        subnetwork=subnet,
        address_type="INTERNAL",
        purpose="GCE_ENDPOINT",
        labels=labels,
        opts=opts,
    )


def internal_gateway(
    resource_name: str,
    name: str,
    namespace: str,
    listener: dict[str, object],
    address: pulumi.Input[str],
    proxy_only_subnet: pulumi.Resource,
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    """A Gateway of GKE's regional internal Application Load Balancer with one ``listener``.

    It answers on the reserved internal ``address`` (its name, :func:`internal_address`), so
    clients in the VPC have a stable address; it admits routes of its own namespace only, and
    waits for the region's proxy-only subnet: Google refuses the load balancer until it exists.
    """
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version="gateway.networking.k8s.io/v1",
        kind="Gateway",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace),
        spec={
            "gatewayClassName": GATEWAY_CLASS,
            "listeners": [listener | {"allowedRoutes": {"namespaces": {"from": "Same"}}}],
            "addresses": [{"type": "NamedAddress", "value": address}],
        },
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[proxy_only_subnet])
        ),
    )


def _rule(prefix: str, service: str) -> dict[str, object]:
    port = BACKENDS[service][0]
    return {
        "matches": [{"path": {"type": "PathPrefix", "value": prefix}}],
        "backendRefs": [{"name": service, "port": port}],
    }


def _service_policy(
    name: str,
    service: str,
    suffix: str,
    kind: str,
    default: dict[str, object],
    args: KfpAccessArgs,
    opts: pulumi.ResourceOptions,
) -> None:
    """A GKE Gateway policy (``kind``) with ``default`` settings on one Service's backend."""
    k8s.apiextensions.CustomResource(
        f"{name}-{service}-{suffix}",
        api_version="networking.gke.io/v1",
        kind=kind,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{service}-{suffix}", namespace=args.namespace),
        spec={"default": default, "targetRef": {"group": "", "kind": "Service", "name": service}},
        opts=opts,
    )
