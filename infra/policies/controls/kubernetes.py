"""CIS GKE Benchmark v1.9.0, section 4: policies inside the cluster."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final

from infra.image_digests import by_digest
from infra.policies.controls.registry import Section
from infra.policies.controls.resources import (
    BACKEND_POLICY,
    GATEWAY,
    HTTP_ROUTE,
    INGRESS,
    K8S_SERVICE,
    NAMESPACE,
    NAMESPACE_PATCH,
    NETWORK_POLICY,
    ROLE_BINDINGS,
    WORKLOADS,
    Resource,
    containers,
    get,
    pod_spec,
)

SECTION = Section("CIS GKE 4: policies")
MODEL_SERVING: Final = {"mlops-kit.io/purpose": "model-serving"}
"""The label of a namespace of model servers: its own internal Gateway is not Kubeflow's."""
INTERNAL_GATEWAY_CLASS: Final = "gke-l7-rilb"


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


@SECTION.resource_control(
    "k8s-no-privileged-containers",
    ["CIS GKE 4.2.1 (baseline)"],
    "No privileged containers or host namespaces",
    *WORKLOADS,
)
def k8s_no_privileged(resource: Resource) -> Iterator[str]:
    spec = pod_spec(resource)
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key) is True:
            yield f"{key} is on: the pod shares the node's namespaces"
    for container in containers(spec):
        context = container.get("securityContext") or {}
        if context.get("privileged") is True:
            yield f"container {container.get('name')} is privileged"
        if "SYS_ADMIN" in ((context.get("capabilities") or {}).get("add") or []):
            yield f"container {container.get('name')} adds SYS_ADMIN"


@SECTION.resource_control(
    "k8s-default-service-account-tokens",
    ["CIS GKE 4.1.6"],
    "Pods of the default service account mount no token",
    *WORKLOADS,
)
def k8s_default_service_account_tokens(resource: Resource) -> Iterator[str]:
    # A pod without its own account runs as 'default', which needs no API access: the token
    # would only be a credential to steal.
    spec = pod_spec(resource)
    if spec.get("serviceAccountName") in (None, "", "default") and (
        spec.get("automountServiceAccountToken") is not False
    ):
        yield "runs as the default service account and mounts its token"


@SECTION.resource_control(
    "k8s-images-by-digest",
    ["checkov CKV_K8S_43"],
    "Container images are pinned by digest",
    *WORKLOADS,
    # Advisory: a digest is known only by asking the image's registry, which the program and the
    # audit never do. Its fix is a command run once online, not a change of the program.
    advisory=True,
)
def k8s_images_by_digest(resource: Resource) -> Iterator[str]:
    # A tag can be moved to another image after the review; a digest cannot.
    spec = pod_spec(resource)
    for container in containers(spec):
        image = str(container.get("image") or "")
        if not by_digest(image):
            yield (
                f"container {container.get('name')} runs {image or 'no image'} by tag, not by "
                "digest: run python -m infra.kubeflow_inventory lock-digests where the "
                "registries are reachable, and commit the lock"
            )


@SECTION.resource_control(
    "k8s-cluster-admin-only-where-required",
    ["CIS GKE 4.1.1"],
    "No binding to cluster-admin",
    *ROLE_BINDINGS,
)
def k8s_no_cluster_admin(resource: Resource) -> Iterator[str]:
    # Administrators get cluster-admin through Google Groups (RBAC), never from the program.
    if get(resource.props, "roleRef.name") == "cluster-admin":
        subjects = ", ".join(str(s.get("name")) for s in resource.props.get("subjects") or [])
        yield f"binds cluster-admin to {subjects or 'nobody'}"


# Service types that open a port outside the cluster network without any authentication.
_EXPOSED_SERVICE_TYPES = frozenset({"LoadBalancer", "NodePort"})


@SECTION.stack_control(
    "k8s-kfp-behind-iap",
    ["hardening (authenticated KFP UI and API)"],
    "Kubeflow Pipelines is reachable only through Identity-Aware Proxy over HTTPS",
    K8S_SERVICE,
    INGRESS,
    GATEWAY,
    HTTP_ROUTE,
    BACKEND_POLICY,
)
def k8s_kfp_behind_iap(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    # Anyone who reaches a load-balanced Service, an Ingress or a route to a backend without IAP
    # drives KFP (runs, pipelines, artifacts) with no identity: the only way in is a Gateway
    # route whose every backend Service has IAP on.
    # The model servers' internal Gateway is no way into KFP: it admits routes of its own
    # (labelled) namespace only, where no KFP Service lives.
    serving = {
        get(r.props, "metadata.name")
        for r in resources
        if r.type == NAMESPACE
        and MODEL_SERVING.items() <= (get(r.props, "metadata.labels") or {}).items()
    }
    protected = {
        (get(r.props, "metadata.namespace"), get(r.props, "spec.targetRef.name"))
        for r in resources
        if r.type == BACKEND_POLICY
        and get(r.props, "spec.targetRef.kind") == "Service"
        and get(r.props, "spec.default.iap.enabled") is True
        and get(r.props, "spec.default.iap.clientID")
    }
    for resource in resources:
        name = get(resource.props, "metadata.name", resource.name)
        if resource.type == K8S_SERVICE:
            kind = get(resource.props, "spec.type", "ClusterIP")
            if kind in _EXPOSED_SERVICE_TYPES:
                yield resource, f"Service {name} is a {kind}: it answers without authentication"
        elif resource.type == INGRESS:
            yield resource, f"Ingress {name} routes to KFP without IAP: use the IAP Gateway"
        elif resource.type == GATEWAY and not _serves_models(resource, serving):
            yield from ((resource, m) for m in _plain_listeners(name, resource))
        elif resource.type == HTTP_ROUTE:
            yield from ((resource, m) for m in _unprotected_backends(name, resource, protected))


def _serves_models(gateway: Resource, serving: set[Any]) -> bool:
    """An internal Gateway of a serving namespace that admits routes of that namespace only."""
    listeners = get(gateway.props, "spec.listeners", []) or []
    return (
        get(gateway.props, "metadata.namespace") in serving
        and get(gateway.props, "spec.gatewayClassName") == INTERNAL_GATEWAY_CLASS
        # The Gateway API's default for a listener is routes of its own namespace.
        and all(
            get(listener, "allowedRoutes.namespaces.from", "Same") == "Same"
            for listener in listeners
        )
    )


def _plain_listeners(name: str, gateway: Resource) -> Iterator[str]:
    for listener in get(gateway.props, "spec.listeners", []) or []:
        if listener.get("protocol") != "HTTPS":
            yield (
                f"Gateway {name} listens with {listener.get('protocol')} on port "
                f"{listener.get('port')}: IAP's credentials would cross in clear text"
            )


def _unprotected_backends(
    name: str, route: Resource, protected: set[tuple[Any, Any]]
) -> Iterator[str]:
    namespace = get(route.props, "metadata.namespace")
    for rule in get(route.props, "spec.rules", []) or []:
        for backend in rule.get("backendRefs") or []:
            if (namespace, backend.get("name")) not in protected:
                yield (
                    f"HTTPRoute {name} sends requests to Service {backend.get('name')}, which "
                    "has no GCPBackendPolicy with IAP enabled and an OAuth client"
                )
