"""Kubernetes NetworkPolicies that admit named sources, and nothing else, to a namespace's pods."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s


def peers(
    *,
    same_namespace: bool = False,
    namespaces: Sequence[str] = (),
    ranges: Sequence[pulumi.Input[str]] = (),
) -> list[k8s.networking.v1.NetworkPolicyPeerArgs]:
    """The sources a policy admits: the pods of its own namespace (``same_namespace``), the pods of
    the ``namespaces`` named, and the CIDR ``ranges`` (nodes, load balancer proxies, the VPC)."""
    own = [k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs())]
    return [
        *(own if same_namespace else []),
        *(
            k8s.networking.v1.NetworkPolicyPeerArgs(
                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels={"kubernetes.io/metadata.name": source}
                )
            )
            for source in namespaces
        ),
        *(
            k8s.networking.v1.NetworkPolicyPeerArgs(
                ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr)
            )
            for cidr in ranges
        ),
    ]


def ingress_policy(
    resource_name: str,
    name: str,
    namespace: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    *,
    sources: Sequence[k8s.networking.v1.NetworkPolicyPeerArgs],
    pods: Mapping[str, str] | None = None,
    ports: Sequence[int] = (),
) -> k8s.networking.v1.NetworkPolicy:
    """A NetworkPolicy ``name`` by which pods of ``namespace`` accept only ``sources``.

    Args:
        resource_name: Pulumi name of the policy.
        name: Kubernetes name of the policy.
        namespace: Namespace of the policy and of the pods it selects.
        opts: Options of the policy (its provider and parent).
        sources: What may connect, from :func:`peers`.
        pods: Labels of the pods it admits to; ``None`` selects every pod of the namespace.
        ports: Ports the sources may reach; empty admits them to every port.
    """
    return k8s.networking.v1.NetworkPolicy(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=pods),
            policy_types=["Ingress"],
            ingress=[
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=list(sources),
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=port) for port in ports]
                    or None,
                )
            ],
        ),
        opts=opts,
    )
