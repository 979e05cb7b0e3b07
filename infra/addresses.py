"""Address ranges compared as networks, never as strings.

``0.0.0.0/0`` is not the only way to open something to the internet: ``0.0.0.0/1`` plus
``128.0.0.0/1``, or any public range, does it too. Everything that decides whether a range is
internal (the stack configuration and the firewall, GKE and Cloud SQL controls) asks here.
"""

from __future__ import annotations

import ipaddress
from typing import Final

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

INTERNAL_V4: Final = tuple(
    ipaddress.IPv4Network(cidr)
    for cidr in (
        "10.0.0.0/8",  # RFC 1918
        "172.16.0.0/12",  # RFC 1918
        "192.168.0.0/16",  # RFC 1918
        "100.64.0.0/10",  # RFC 6598 shared address space, used by VPCs as private space
    )
)
"""IPv4 address space that no host on the internet has."""
INTERNAL_V6: Final = (ipaddress.IPv6Network("fc00::/7"),)
"""IPv6 unique local addresses."""

IAP_TCP_FORWARDING: Final = ipaddress.IPv4Network("35.235.240.0/20")
"""Source range of Identity-Aware Proxy TCP forwarding: public, but only IAP-authenticated users."""


def parse_network(cidr: str) -> IpNetwork | None:
    """``cidr`` as a network (host bits allowed), or ``None`` when it is not a CIDR range."""
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return None


def is_internal(cidr: str | IpNetwork) -> bool:
    """Whether every address of ``cidr`` lies in internal address space (invalid ranges are not)."""
    network = parse_network(cidr) if isinstance(cidr, str) else cidr
    if isinstance(network, ipaddress.IPv4Network):
        return any(network.subnet_of(internal) for internal in INTERNAL_V4)
    if isinstance(network, ipaddress.IPv6Network):
        return any(network.subnet_of(internal) for internal in INTERNAL_V6)
    return False


def is_public(cidr: str | IpNetwork) -> bool:
    """Whether ``cidr`` reaches beyond internal address space (so, at least partly, the internet)."""
    return not is_internal(cidr)
