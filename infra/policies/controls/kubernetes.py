"""CIS GKE Benchmark v1.9.0, section 4: policies inside the cluster."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from infra.policies.controls.registry import Section
from infra.policies.controls.resources import (
    NAMESPACE,
    NAMESPACE_PATCH,
    NETWORK_POLICY,
    Resource,
    get,
)

SECTION = Section("CIS GKE 4: policies")


@SECTION.stack_control(
    "k8s-pod-security-baseline",
    ["CIS GKE 4.2.1"],
    "Pod Security Standard baseline or stricter on namespaces",
    NAMESPACE,
    NAMESPACE_PATCH,
)
def k8s_pod_security(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    # Applied manifests may declare a namespace again without labels (server-side apply merges
    # them): a namespace passes when any declaration of it enforces baseline or restricted.
    levels: dict[str, list[str | None]] = {}
    first: dict[str, Resource] = {}
    for resource in resources:
        if resource.type in (NAMESPACE, NAMESPACE_PATCH):
            name = str(get(resource.props, "metadata.name", resource.name))
            labels = get(resource.props, "metadata.labels", {})
            levels.setdefault(name, []).append(labels.get("pod-security.kubernetes.io/enforce"))
            first.setdefault(name, resource)
    for name, declared in sorted(levels.items()):
        if not {"baseline", "restricted"} & set(declared):
            yield (
                first[name],
                f"namespace {name} enforces no Pod Security level (baseline or restricted)",
            )


@SECTION.stack_control(
    "k8s-network-policy-per-namespace",
    ["CIS GKE 4.3.2"],
    "Every namespace has a NetworkPolicy",
    NAMESPACE,
    NAMESPACE_PATCH,
    NETWORK_POLICY,
)
def k8s_network_policy(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    covered = {get(r.props, "metadata.namespace") for r in resources if r.type == NETWORK_POLICY}
    namespaces: dict[str, Resource] = {}
    for resource in resources:
        if resource.type in (NAMESPACE, NAMESPACE_PATCH):
            namespaces.setdefault(
                str(get(resource.props, "metadata.name", resource.name)), resource
            )
    for name, namespace in sorted(namespaces.items()):
        if name not in covered:
            yield namespace, f"namespace {name} has no NetworkPolicy"
