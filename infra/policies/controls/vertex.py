"""Vertex AI: the endpoint that serves the models of an environment without a cluster.

Beyond CIS, as the storage, SQL and BigQuery sections require of their data: the endpoint and
the models deployed to it are encrypted with a customer-managed key, and outside dev it takes
predictions only from VPCs (Private Service Connect), as the cluster's model servers do.
"""

from __future__ import annotations

from collections.abc import Iterator

from infra.policies.controls.registry import Section, Setting
from infra.policies.controls.resources import VERTEX_ENDPOINT, Resource, env_label, get

SECTION = Section("Vertex AI")

SECTION.settings(
    Setting(
        "vertex-endpoint-cmek",
        ["hardening (CMEK)"],
        "Endpoints encrypted with customer-managed keys",
        VERTEX_ENDPOINT,
        "encryptionSpec.kmsKeyName",
        problem="no encryptionSpec.kmsKeyName: the endpoint and its models use Google-managed keys "
        "(CMEK)",
    ),
)


@SECTION.resource_control(
    "vertex-endpoint-private",
    ["hardening (private access)"],
    "Endpoints reached only through Private Service Connect outside dev",
    VERTEX_ENDPOINT,
)
def vertex_endpoint_private(resource: Resource) -> Iterator[str]:
    if (
        get(resource.props, "privateServiceConnectConfig.enablePrivateServiceConnect") is not True
        and env_label(resource) != "dev"
    ):
        kind = "dedicated" if resource.props.get("dedicatedEndpointEnabled") else "shared"
        yield (
            f"no privateServiceConnectConfig.enablePrivateServiceConnect outside dev: the {kind} "
            "public endpoint takes prediction traffic from the internet"
        )
