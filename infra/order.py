"""Creation order: the dependency graph of a program and Google Cloud's preconditions on it.

Under mocks every resource is "created" at once, so a program that would fail on its first
``pulumi up`` (a grant to a service agent that does not exist yet, a dataset encrypted with a key
its service may not use yet) passes every other test. The engine creates a resource only after
everything it depends on: explicit ``depends_on``, the resources behind the outputs among its
inputs, its provider, and a custom-resource parent; a dependency on a component is a dependency on
all of its descendants. :class:`DependencyGraph` records exactly that (a stack transformation sees
each resource's options and inputs), and :data:`PRECONDITIONS` are the rules of Google Cloud it
must satisfy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final

from infra.policies.controls import get
from infra.policies.controls.resources import leaves, project_names

Key = tuple[str, str]
"""A resource in the graph: (type token, logical name)."""


@dataclass
class Node:
    """One declared resource and what the engine makes it wait for."""

    type: str
    name: str
    custom: bool
    """A cloud resource (custom) or a grouping (component)."""
    parent: Key | None = None
    depends_on: set[Key] = field(default_factory=set)
    """Direct dependencies as declared (explicit, through inputs, the provider, the parent)."""
    props: Mapping[str, Any] = field(default_factory=dict)
    """Inputs as the engine received them (camelCase), filled in after the program ran."""
    outputs: Mapping[str, Any] = field(default_factory=dict)
    """What the cloud computed for it (emails, ids, writer identities)."""

    @property
    def key(self) -> Key:
        return (self.type, self.name)


@dataclass
class DependencyGraph:
    """Every resource of one program and its creation-order dependencies."""

    nodes: dict[Key, Node] = field(default_factory=dict)
    looked_up_agents: set[str] = field(default_factory=set)
    """Service-agent emails the program obtained from Google's lookups (which create them)."""

    _before: Callable[[Key], frozenset[Key]] | None = field(default=None, repr=False)

    def waits_for(self, key: Key) -> frozenset[Key]:
        """Every resource created before ``key`` (its transitive, expanded dependencies)."""
        if self._before is None:
            self._before = self._closure()
        return self._before(key)

    def _closure(self) -> Callable[[Key], frozenset[Key]]:
        children: dict[Key, list[Key]] = {}
        for key, node in self.nodes.items():
            if node.parent is not None:
                children.setdefault(node.parent, []).append(key)

        @cache
        def expand(key: Key) -> frozenset[Key]:
            # Waiting for a component means waiting for everything under it.
            found = {key}
            node = self.nodes.get(key)
            if node is not None and not node.custom:
                for child in children.get(key, []):
                    found |= expand(child)
            return frozenset(found)

        @cache
        def before(key: Key) -> frozenset[Key]:
            found: set[Key] = set()
            node = self.nodes.get(key)
            for dependency in node.depends_on if node is not None else ():
                for waited in expand(dependency):
                    if waited != key:
                        found.add(waited)
                        found |= before(waited)
            return frozenset(found)

        return before

    def of_type(self, *prefixes: str) -> list[Node]:
        """Nodes whose type starts with one of ``prefixes``."""
        return [node for node in self.nodes.values() if node.type.startswith(prefixes)]

    def isolate(self, predicate: Callable[[Node], bool]) -> DependencyGraph:
        """A copy in which the nodes matching ``predicate`` wait for nothing (tests break rules)."""
        nodes = {
            key: Node(
                node.type,
                node.name,
                node.custom,
                node.parent,
                set() if predicate(node) else set(node.depends_on),
                node.props,
                node.outputs,
            )
            for key, node in self.nodes.items()
        }
        return DependencyGraph(nodes, set(self.looked_up_agents))


@dataclass(frozen=True)
class Precondition:
    """A rule of Google Cloud about what must exist before a resource can be created."""

    id: str
    title: str
    check: Callable[[DependencyGraph], Iterator[str]]


# The API each family of resources needs (resources of a family wait for it when it is declared).
API_OF_TYPE: Final[tuple[tuple[str, str], ...]] = (
    ("gcp:bigquery/", "bigquery.googleapis.com"),
    ("gcp:storage/", "storage.googleapis.com"),
    ("gcp:sql/", "sqladmin.googleapis.com"),
    ("gcp:container/", "container.googleapis.com"),
    ("gcp:kms/", "cloudkms.googleapis.com"),
    ("gcp:compute/", "compute.googleapis.com"),
    ("gcp:dns/", "dns.googleapis.com"),
    ("gcp:serviceaccount/", "iam.googleapis.com"),
    ("gcp:iam/", "iam.googleapis.com"),
    ("gcp:logging/", "logging.googleapis.com"),
    ("gcp:monitoring/", "monitoring.googleapis.com"),
    ("gcp:servicenetworking/", "servicenetworking.googleapis.com"),
    ("gcp:billing/budget:", "billingbudgets.googleapis.com"),
    ("gcp:binaryauthorization/", "binaryauthorization.googleapis.com"),
    ("gcp:containeranalysis/", "containeranalysis.googleapis.com"),
    ("gcp:iap/", "iap.googleapis.com"),
    ("gcp:certificatemanager/", "certificatemanager.googleapis.com"),
    ("gcp:certificateauthority/", "privateca.googleapis.com"),
    ("gcp:secretmanager/", "secretmanager.googleapis.com"),
    ("gcp:vertex/", "aiplatform.googleapis.com"),
    ("gcp:projects/iAM", "cloudresourcemanager.googleapis.com"),
)
SERVICE: Final = "gcp:projects/service:Service"
SERVICE_IDENTITY: Final = "gcp:projects/serviceIdentity:ServiceIdentity"
# Google-managed service agents: created by Google (lazily, or by a lookup or ServiceIdentity).
SERVICE_AGENT: Final = re.compile(
    r"^(service-\d+@[a-z-]+|bq-\d+@bigquery-encryption)\.iam\.gserviceaccount\.com$"
)
KEY_REFERENCES: Final = (
    "kmsKeyName",
    "defaultKmsKeyName",
    "encryptionKeyName",
    "bootDiskKmsKey",
    "keyName",
)


def _api_rule(graph: DependencyGraph) -> Iterator[str]:
    enabled = {
        str(node.props.get("service")): node.key
        for node in graph.nodes.values()
        if node.type == SERVICE
    }
    for node in graph.nodes.values():
        if not node.custom:
            continue
        api = next((api for prefix, api in API_OF_TYPE if node.type.startswith(prefix)), None)
        if node.type == SERVICE_IDENTITY:
            api = str(node.props.get("service"))
        service = enabled.get(api or "")
        if service is not None and service not in graph.waits_for(node.key):
            yield f"{node.name} ({node.type}) is created before {api} is enabled"


def _members(node: Node) -> list[str]:
    members = [node.props.get("member"), *(node.props.get("members") or [])]
    return [str(m) for m in members if m]


def _agent_rule(graph: DependencyGraph) -> Iterator[str]:
    for node in graph.nodes.values():
        for member in _members(node):
            email = member.removeprefix("serviceAccount:")
            if not SERVICE_AGENT.match(email) or email in graph.looked_up_agents:
                continue
            creators = [
                graph.nodes[k]
                for k in graph.waits_for(node.key)
                if email in _strings(graph.nodes[k].outputs) and graph.nodes[k].type != node.type
            ]
            if not creators:
                yield (
                    f"{node.name} grants to service agent {email}, which nothing creates before it "
                    "(obtain it from projects.ServiceIdentity or Google's lookup)"
                )


def _strings(value: Any) -> Iterator[str]:
    return (leaf.removeprefix("serviceAccount:") for leaf in leaves(value) if isinstance(leaf, str))


def _key_references(props: Mapping[str, Any]) -> set[str]:
    found: set[str] = set()
    for key, value in props.items():
        if key in KEY_REFERENCES and isinstance(value, str) and "/cryptoKeys/" in value:
            found.add(value)
        elif isinstance(value, Mapping):
            found |= _key_references(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, Mapping):
                    found |= _key_references(item)
    return found


def _key_rule(graph: DependencyGraph) -> Iterator[str]:
    grants: dict[str, list[Key]] = {}
    for node in graph.of_type("gcp:kms/cryptoKeyIAM"):
        grants.setdefault(str(node.props.get("cryptoKeyId")), []).append(node.key)
    for node in graph.nodes.values():
        if not node.custom or node.type.startswith("gcp:kms/"):
            continue
        before = graph.waits_for(node.key)
        for key in sorted(_key_references(node.props)):
            missing = [g for g in grants.get(key, []) if g not in before]
            if not grants.get(key):
                yield f"{node.name} uses key {key.split('/')[-1]}, which no service may use"
            elif missing:
                yield f"{node.name} is created before {missing[0][1]} lets its service use the key"


def _workload_identity_rule(graph: DependencyGraph) -> Iterator[str]:
    clusters = {
        str(get(node.props, "workloadIdentityConfig.workloadPool")): node.key
        for node in graph.of_type("gcp:container/cluster:")
    }
    for node in graph.nodes.values():
        for member in _members(node):
            match = re.match(r"^serviceAccount:([^\[]+\.svc\.id\.goog)\[", member)
            if match is None:
                continue
            cluster = clusters.get(match.group(1))
            if cluster is None or cluster not in graph.waits_for(node.key):
                yield (
                    f"{node.name} binds {member} before the cluster that creates the identity "
                    f"pool {match.group(1)}"
                )


def _private_service_access_rule(graph: DependencyGraph) -> Iterator[str]:
    connections = {n.key for n in graph.of_type("gcp:servicenetworking/connection:")}
    for node in graph.of_type("gcp:sql/databaseInstance:"):
        if get(node.props, "settings.ipConfiguration.privateNetwork") and not (
            connections & graph.waits_for(node.key)
        ):
            yield f"{node.name} gets a private IP before private service access is connected"


def _proxy_only_subnet_rule(graph: DependencyGraph) -> Iterator[str]:
    subnets = {
        n.key
        for n in graph.of_type("gcp:compute/subnetwork:")
        if n.props.get("purpose") == "REGIONAL_MANAGED_PROXY"
    }
    for node in graph.of_type("kubernetes:gateway.networking.k8s.io/"):
        if (
            node.type.endswith(":Gateway")
            and str(get(node.props, "spec.gatewayClassName")).startswith("gke-l7-rilb")
            and not (subnets & graph.waits_for(node.key))
        ):
            yield (
                f"{node.name} asks for a regional internal load balancer before the region's "
                "proxy-only subnet exists"
            )


def _named_address_rule(graph: DependencyGraph) -> Iterator[str]:
    addresses = {str(n.props.get("name")): n.key for n in graph.of_type("gcp:compute/address:")}
    for node in graph.of_type("kubernetes:gateway.networking.k8s.io/"):
        if not node.type.endswith(":Gateway"):
            continue
        for address in get(node.props, "spec.addresses", []):
            if address.get("type") != "NamedAddress":
                continue
            if addresses.get(str(address.get("value"))) not in graph.waits_for(node.key):
                yield f"{node.name} names the address {address.get('value')} before it is reserved"


def _node_pool_rule(graph: DependencyGraph) -> Iterator[str]:
    pools = {n.key for n in graph.of_type("gcp:container/nodePool:")}
    for node in graph.of_type("kubernetes:"):
        missing = sorted(pools - graph.waits_for(node.key))
        if missing:
            yield f"{node.name} ({node.type}) is applied before node pool {missing[0][1]} exists"


def _named(graph: DependencyGraph, prefix: str, kind: str) -> dict[str, Key]:
    """``NAME`` and ``projects/PROJECT/KIND/NAME`` → the resource, for attestors and notes."""
    return {
        name: node.key for node in graph.of_type(prefix) for name in project_names(node.props, kind)
    }


def _admission_rule(graph: DependencyGraph) -> Iterator[str]:
    attestors = _named(graph, "gcp:binaryauthorization/attestor:", "attestors")
    notes = _named(graph, "gcp:containeranalysis/note:", "notes")
    for node in graph.of_type("gcp:binaryauthorization/attestor:"):
        note = str(get(node.props, "attestationAuthorityNote.noteReference", ""))
        if notes.get(note) not in graph.waits_for(node.key):
            yield f"attestor {node.name} is created before its note {note}"
    policies = graph.of_type("gcp:binaryauthorization/policy:")
    for policy in policies:
        for name in get(policy.props, "defaultAdmissionRule.requireAttestationsBies", []):
            if attestors.get(str(name)) not in graph.waits_for(policy.key):
                yield f"policy {policy.name} requires attestor {name} before it exists"
    for cluster in graph.of_type("gcp:container/cluster:"):
        enforcing = get(cluster.props, "binaryAuthorization.evaluationMode")
        if enforcing == "PROJECT_SINGLETON_POLICY_ENFORCE" and not (
            {p.key for p in policies} & graph.waits_for(cluster.key)
        ):
            yield (
                f"{cluster.name} enforces Binary Authorization before the policy exists (the "
                "project's default policy admits every image meanwhile)"
            )


PRECONDITIONS: Final[tuple[Precondition, ...]] = (
    Precondition("api-enabled-first", "An API is enabled before its resources", _api_rule),
    Precondition(
        "service-agent-exists",
        "A service agent exists before it is granted a role",
        _agent_rule,
    ),
    Precondition("key-grant-first", "A key's grants precede every use of the key", _key_rule),
    Precondition(
        "cluster-before-workload-identity",
        "The cluster (its identity pool) precedes Workload Identity members",
        _workload_identity_rule,
    ),
    Precondition(
        "private-service-access-first",
        "Private service access precedes Cloud SQL instances with private IP",
        _private_service_access_rule,
    ),
    Precondition(
        "admission-chain-first",
        "Note, attestor, admission policy, then the cluster that enforces it",
        _admission_rule,
    ),
    Precondition(
        "proxy-only-subnet-first",
        "The region's proxy-only subnet precedes internal Application Load Balancers",
        _proxy_only_subnet_rule,
    ),
    Precondition(
        "named-address-first",
        "A Gateway's reserved address precedes the Gateway that names it",
        _named_address_rule,
    ),
    Precondition(
        "node-pools-before-kubernetes",
        "The cluster's node pools precede Kubernetes objects",
        _node_pool_rule,
    ),
)


@dataclass(frozen=True)
class OrderViolation:
    """A precondition the creation order breaks."""

    precondition: str
    message: str


def check_order(
    graph: DependencyGraph, preconditions: Iterable[Precondition] = PRECONDITIONS
) -> list[OrderViolation]:
    """Every broken precondition of ``graph``."""
    return [
        OrderViolation(rule.id, message) for rule in preconditions for message in rule.check(graph)
    ]
