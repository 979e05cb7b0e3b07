"""Vertex AI serving: the endpoint the kit's ``vertex-endpoint://`` deploy target deploys to.

An environment whose pipelines run on Vertex AI has no cluster to serve from; its models are served
by one dedicated Vertex AI endpoint, encrypted with the environment's key. The deploy target runs
every deployed model as the ``serving`` Google account, which Vertex AI allows only to callers that
may act as that account: the deployer and the pipelines' deploy step get exactly that, on that one
account.

How clients reach it (``access``): through Private Service Connect (a forwarding rule in an allowed
project's VPC; no public address), on a dedicated DNS name of its own, or on the shared regional API
host. A PSC endpoint is itself a dedicated private endpoint, so it never sets
``dedicated_endpoint_enabled``; neither kind sets ``network`` (VPC peering), which Vertex AI refuses
beside PSC and which serves one model per endpoint: no traffic split, so no canary. Deploying,
undeploying and splitting traffic always go through the regional API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pulumi
from pulumi_gcp import serviceaccount, vertex

from infra.components import child_options


@dataclass(frozen=True)
class VertexEndpointArgs:
    """Inputs of :class:`VertexEndpoint`."""

    project: str
    """Project of the endpoint."""
    region: str
    """Vertex AI region of the endpoint (its key must be in the same region)."""
    display_name: str
    """Display name of the endpoint (``<prefix>-<env>-serving``)."""
    serving_account: pulumi.Input[str]
    """Resource name of the ``serving`` Google account (``projects/P/serviceAccounts/EMAIL``)."""
    deployers: dict[str, pulumi.Input[str]]
    """IAM members that deploy models to the endpoint (running as the serving account), by name."""
    kms_key: pulumi.Input[str] | None = None
    """Cloud KMS key of the endpoint and its deployed models; Google-managed when ``None``."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of the endpoint."""
    access: Literal["public", "dedicated", "private-service-connect"] = "private-service-connect"
    """How clients reach the endpoint (see the module's docstring)."""
    project_allowlist: tuple[str, ...] = ()
    """Projects whose VPCs may connect to a PSC endpoint, besides ``project``."""
    predict_host: str | None = None
    """Address of the PSC forwarding rule clients send predictions to, once it exists."""


class VertexEndpoint(pulumi.ComponentResource):
    """A Vertex AI endpoint and the right to deploy models that run as the serving account."""

    endpoint_id: pulumi.Output[str]
    """The endpoint's numeric id: the ``ENDPOINT`` of ``vertex-endpoint://PROJECT/LOCATION/ENDPOINT``."""
    predict_host: pulumi.Output[str | None]
    """Where predictions go instead of the regional API host: the dedicated DNS name, or the PSC
    forwarding rule's address when known; ``None`` on a public endpoint."""

    def __init__(
        self, name: str, args: VertexEndpointArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops-kit:gcp:VertexEndpoint", name, None, opts)
        child = child_options(self, opts)
        endpoint = vertex.AiEndpoint(
            f"{name}-endpoint",
            project=args.project,
            location=args.region,
            region=args.region,
            display_name=args.display_name,
            description="Models of the mlops-kit registry, deployed by the vertex-endpoint target.",
            labels=args.labels,
            encryption_spec=(
                vertex.AiEndpointEncryptionSpecArgs(kms_key_name=args.kms_key)
                if args.kms_key is not None
                else None
            ),
            dedicated_endpoint_enabled=True if args.access == "dedicated" else None,
            private_service_connect_config=(
                vertex.AiEndpointPrivateServiceConnectConfigArgs(
                    enable_private_service_connect=True,
                    # The stack's own VPC is where its clients (pipelines, CI runners) live.
                    project_allowlists=list(dict.fromkeys((args.project, *args.project_allowlist))),
                )
                if args.access == "private-service-connect"
                else None
            ),
            opts=child,
        )
        # actAs on the serving account only (a project-wide serviceAccountUser would let them
        # run models as any account of the project).
        for deployer, member in args.deployers.items():
            serviceaccount.IAMMember(
                f"{name}-{deployer}-acts-as-serving",
                service_account_id=args.serving_account,
                role="roles/iam.serviceAccountUser",
                member=member,
                opts=child,
            )
        self.endpoint_id = endpoint.name
        self.predict_host = (
            endpoint.dedicated_endpoint_dns.apply(lambda dns: dns or None)
            if args.access == "dedicated"
            else pulumi.Output.from_input(args.predict_host)
        )
        self.register_outputs({"endpoint_id": self.endpoint_id, "predict_host": self.predict_host})
