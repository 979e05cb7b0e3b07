"""CIS GCP section 3: networking."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Network

from infra.addresses import IAP_TCP_FORWARDING, is_public, parse_network
from infra.policies.controls.registry import Section, Setting
from infra.policies.controls.resources import (
    FIREWALL,
    GCP_PROJECT,
    NETWORK,
    SUBNET,
    Resource,
)

SECTION = Section("CIS GCP 3: networking")

SECTION.settings(
    Setting(
        "network-custom-mode",
        ["CIS GCP 3.2"],
        "No legacy or auto-mode networks",
        NETWORK,
        "autoCreateSubnetworks",
        must_be=False,
        problem="auto-mode network: set autoCreateSubnetworks=false (custom mode)",
    ),
)


@SECTION.resource_control(
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


def _iap_only(cidr: str) -> bool:
    network = parse_network(cidr)
    return isinstance(network, IPv4Network) and network.subnet_of(IAP_TCP_FORWARDING)


def _open_to_internet(resource: Resource, port: int) -> bool:
    props = resource.props
    if (props.get("direction") or "INGRESS") != "INGRESS" or props.get("disabled"):
        return False
    sources = props.get("sourceRanges")
    if not sources and not props.get("sourceTags") and not props.get("sourceServiceAccounts"):
        sources = ["0.0.0.0/0"]  # GCP's default source for an ingress rule
    # Compared as networks: 0.0.0.0/1 or any public range is as open as 0.0.0.0/0. Only the
    # Identity-Aware Proxy's forwarding range is public yet authenticated.
    if not any(is_public(s) and not _iap_only(s) for s in sources or []):
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


@SECTION.resource_control(
    "firewall-no-public-ssh", ["CIS GCP 3.6"], "SSH is not open to the internet", FIREWALL
)
def no_public_ssh(resource: Resource) -> Iterator[str]:
    if _open_to_internet(resource, 22):
        yield "ingress to tcp/22 from a public range: allow the IAP range 35.235.240.0/20 only"


@SECTION.resource_control(
    "firewall-no-public-rdp", ["CIS GCP 3.7"], "RDP is not open to the internet", FIREWALL
)
def no_public_rdp(resource: Resource) -> Iterator[str]:
    if _open_to_internet(resource, 3389):
        yield "ingress to tcp/3389 from a public range"


def _proxy_only(resource: Resource) -> bool:
    # A proxy-only subnet holds Google's load-balancer proxies, no VMs: Google accepts neither
    # flow logs nor Private Google Access on it (the load balancer logs requests instead).
    return resource.props.get("purpose") == "REGIONAL_MANAGED_PROXY"


@SECTION.resource_control(
    "subnet-flow-logs",
    ["CIS GCP 3.8 (v5 3.10)"],
    "VPC Flow Logs on every subnet, at CIS values",
    SUBNET,
)
def subnet_flow_logs(resource: Resource) -> Iterator[str]:
    if _proxy_only(resource):
        return
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


@SECTION.resource_control(
    "subnet-private-google-access",
    ["checkov CKV_GCP_74"],
    "Private Google Access on subnets",
    SUBNET,
)
def subnet_private_google_access(resource: Resource) -> Iterator[str]:
    if not _proxy_only(resource) and resource.props.get("privateIpGoogleAccess") is not True:
        yield "privateIpGoogleAccess is off: private nodes cannot reach GCS/BigQuery"
