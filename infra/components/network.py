"""Network: custom-mode VPC, one subnet with GKE secondary ranges, private service access, Cloud NAT."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
from pulumi_gcp import compute, dns, servicenetworking

from infra.components import child_options

# The values CIS GCP 3.8 asks for: every flow, 5-second aggregation, all metadata.
FLOW_LOGS = compute.SubnetworkLogConfigArgs(
    aggregation_interval="INTERVAL_5_SEC",
    flow_sampling=1.0,
    metadata="INCLUDE_ALL_METADATA",
)
# Google's IAP TCP-forwarding range: SSH reaches nodes only through IAP, never from the internet.
IAP_RANGE = "35.235.240.0/20"


@dataclass(frozen=True)
class NetworkArgs:
    """Inputs of :class:`Network`."""

    region: str
    """Region of the subnet, router and NAT."""
    subnet_cidr: str
    """Primary range of the subnet (nodes, internal load balancers)."""
    pods_cidr: str
    """Secondary range for GKE pods (named ``pods``)."""
    services_cidr: str
    """Secondary range for GKE services (named ``services``)."""
    private_service_prefix_length: int
    """Prefix length of the range reserved for private service access (Cloud SQL private IP)."""
    proxy_only_cidr: str | None = None
    """Range of the proxy-only subnet that regional internal Application Load Balancers (KFP's
    Gateway) need; ``None`` creates none."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of the resources that take them (the reserved range)."""


class Network(pulumi.ComponentResource):
    """A private network for the environment: no default routes to the internet except via NAT."""

    network: compute.Network
    subnet: compute.Subnetwork
    proxy_only_subnet: compute.Subnetwork | None
    network_self_link: pulumi.Output[str]
    subnet_self_link: pulumi.Output[str]
    pods_range_name: str = "pods"
    services_range_name: str = "services"

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops-kit:gcp:Network", name, None, opts)
        child = child_options(self, opts)

        # Custom mode (CIS 3.2): no auto-created subnets in every region.
        self.network = compute.Network(
            f"{name}-vpc",
            name=f"{name}-vpc",
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            opts=child,
        )
        self.subnet = compute.Subnetwork(
            f"{name}-subnet",
            name=f"{name}-subnet",
            region=args.region,
            network=self.network.id,
            ip_cidr_range=args.subnet_cidr,
            # Private nodes and Cloud Run jobs reach GCS and BigQuery without public IPs.
            private_ip_google_access=True,
            log_config=FLOW_LOGS,
            secondary_ip_ranges=[
                compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=self.pods_range_name, ip_cidr_range=args.pods_cidr
                ),
                compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=self.services_range_name, ip_cidr_range=args.services_cidr
                ),
            ],
            opts=child,
        )

        # The proxies of a regional internal Application Load Balancer take their addresses from a
        # proxy-only subnet of the region; Google refuses such a load balancer until it exists.
        self.proxy_only_subnet = None
        if args.proxy_only_cidr is not None:
            self.proxy_only_subnet = compute.Subnetwork(
                f"{name}-proxy-only",
                name=f"{name}-proxy-only",
                region=args.region,
                network=self.network.id,
                ip_cidr_range=args.proxy_only_cidr,
                purpose="REGIONAL_MANAGED_PROXY",
                role="ACTIVE",
                opts=child,
            )

        # Private service access: Cloud SQL gets addresses from this range, inside our VPC.
        self.private_service_range = compute.GlobalAddress(
            f"{name}-private-services",
            name=f"{name}-private-services",
            purpose="VPC_PEERING",
            address_type="INTERNAL",
            prefix_length=args.private_service_prefix_length,
            network=self.network.id,
            labels=args.labels,
            opts=child,
        )
        self.private_service_connection = servicenetworking.Connection(
            f"{name}-private-services",
            network=self.network.id,
            service="servicenetworking.googleapis.com",
            reserved_peering_ranges=[self.private_service_range.name],
            opts=child,
        )

        # Cloud NAT: private nodes pull images and reach package indexes without public IPs.
        router = compute.Router(
            f"{name}-router",
            name=f"{name}-router",
            region=args.region,
            network=self.network.id,
            opts=child,
        )
        compute.RouterNat(
            f"{name}-nat",
            name=f"{name}-nat",
            router=router.name,
            region=args.region,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
            log_config=compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
            opts=child,
        )

        # SSH to nodes only through IAP (CIS 3.6); nothing else is opened to the outside.
        compute.Firewall(
            f"{name}-allow-iap-ssh",
            name=f"{name}-allow-iap-ssh",
            network=self.network.id,
            direction="INGRESS",
            source_ranges=[IAP_RANGE],
            allows=[compute.FirewallAllowArgs(protocol="tcp", ports=["22"])],
            log_config=compute.FirewallLogConfigArgs(metadata="INCLUDE_ALL_METADATA"),
            opts=child,
        )

        # Cloud DNS query logging on the VPC (CIS 2.12).
        dns.Policy(
            f"{name}-dns-logging",
            name=f"{name}-dns-logging",
            enable_logging=True,
            networks=[dns.PolicyNetworkArgs(network_url=self.network.id)],
            opts=child,
        )

        self.network_self_link = self.network.self_link
        self.subnet_self_link = self.subnet.self_link
        self.register_outputs(
            {
                "network_self_link": self.network_self_link,
                "subnet_self_link": self.subnet_self_link,
                "private_service_connection": self.private_service_connection.id,
            }
        )
