"""Creation order: every environment's graph satisfies Google Cloud's preconditions, and breaking
any one of them on purpose is caught."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infra.order import PRECONDITIONS, DependencyGraph, Node, check_order
from tests.infra.conftest import ENVIRONMENTS

pytestmark = pytest.mark.pulumi


def _violated(graph: DependencyGraph) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for violation in check_order(graph):
        found.setdefault(violation.precondition, []).append(violation.message)
    return found


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environment_is_created_in_an_order_google_cloud_accepts(
    evaluations: dict[str, Any], env: str
) -> None:
    graph = evaluations[env].graph
    assert check_order(graph) == []
    # The graph is the whole program, with real edges (not an empty graph that passes anything).
    assert len(graph.nodes) > 100
    api = next(
        n for n in graph.nodes.values() if n.props.get("service") == "bigquery.googleapis.com"
    )
    dataset = next(n for n in graph.nodes.values() if n.type == "gcp:bigquery/dataset:Dataset")
    assert api.key in graph.waits_for(dataset.key)


def _named(type_: str, name_part: str = "") -> Callable[[Node], bool]:
    return lambda node: node.type == type_ and name_part in node.name


@pytest.mark.parametrize(
    ("precondition", "victim", "expected"),
    [
        (
            "api-enabled-first",
            _named("gcp:monitoring/notificationChannel:NotificationChannel"),
            "before monitoring.googleapis.com is enabled",
        ),
        (
            "service-agent-exists",
            _named("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "-sql-agent"),
            "@gcp-sa-cloud-sql.iam.gserviceaccount.com, which nothing creates before it",
        ),
        (
            "key-grant-first",
            _named("gcp:storage/bucket:Bucket", "models"),
            "models-bucket is created before mlops-prod-storage-agent",
        ),
        (
            "cluster-before-workload-identity",
            _named("gcp:serviceaccount/iAMMember:IAMMember", "workload-identity"),
            "before the cluster that creates the identity pool acme-ml-prod.svc.id.goog",
        ),
        (
            "private-service-access-first",
            _named("gcp:sql/databaseInstance:DatabaseInstance", "metadata"),
            "gets a private IP before private service access is connected",
        ),
        (
            "admission-chain-first",
            _named("gcp:binaryauthorization/attestor:Attestor"),
            "attestor mlops-prod-built-by-ci is created before its note mlops-prod-built-by-ci",
        ),
        (
            "admission-chain-first",
            _named("gcp:binaryauthorization/policy:Policy"),
            "requires attestor projects/acme-ml-prod/attestors/mlops-prod-built-by-ci before it",
        ),
        (
            "admission-chain-first",
            _named("gcp:container/cluster:Cluster"),
            "mlops-prod-gke enforces Binary Authorization before the policy exists",
        ),
        (
            "proxy-only-subnet-first",
            _named("kubernetes:gateway.networking.k8s.io/v1:Gateway"),
            "asks for a regional internal load balancer before the region's proxy-only subnet",
        ),
        (
            "named-address-first",
            _named("kubernetes:gateway.networking.k8s.io/v1:Gateway", "serving"),
            "mlops-prod-serving-gateway names the address mlops-prod-serving-gateway before it",
        ),
        (
            # The provider stops waiting for the node pools: every Kubernetes object is early.
            "node-pools-before-kubernetes",
            _named("pulumi:providers:kubernetes"),
            "is applied before node pool",
        ),
    ],
)
def test_breaking_a_precondition_on_purpose_fails(
    prod: Any, precondition: str, victim: Callable[[Node], bool], expected: str
) -> None:
    assert any(victim(node) for node in prod.graph.nodes.values())
    violated = _violated(prod.graph.isolate(victim))
    assert precondition in violated, violated
    assert any(expected in message for message in violated[precondition]), violated[precondition]


@pytest.mark.parametrize(
    ("precondition", "victim", "expected"),
    [
        (
            "api-enabled-first",
            _named("gcp:vertex/aiEndpoint:AiEndpoint"),
            "before aiplatform.googleapis.com is enabled",
        ),
        (
            # Vertex AI's service agent must be granted the key before an encrypted endpoint.
            "key-grant-first",
            _named("gcp:vertex/aiEndpoint:AiEndpoint"),
            "serving-endpoint is created before mlops-staging-vertex-agent",
        ),
        (
            "service-agent-exists",
            _named("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "-vertex-agent"),
            "@gcp-sa-aiplatform.iam.gserviceaccount.com, which nothing creates before it",
        ),
    ],
)
def test_the_vertex_endpoint_waits_for_its_api_and_its_key_grant(
    vertex: Any, precondition: str, victim: Callable[[Node], bool], expected: str
) -> None:
    assert check_order(vertex.graph) == []
    assert any(victim(node) for node in vertex.graph.nodes.values())
    violated = _violated(vertex.graph.isolate(victim))
    assert precondition in violated, violated
    assert any(expected in message for message in violated[precondition]), violated[precondition]


def test_a_hard_coded_service_agent_is_not_created_by_anything(prod: Any) -> None:
    # Without Google's lookups, bq-N@bigquery-encryption and the GCS agent may not exist yet.
    graph = prod.graph.isolate(lambda node: False)
    graph.looked_up_agents.clear()
    messages = _violated(graph)["service-agent-exists"]
    assert any("@bigquery-encryption" in m for m in messages)
    assert any("@gs-project-accounts" in m for m in messages)


def test_every_precondition_has_a_test_that_breaks_it() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    for rule in PRECONDITIONS:
        assert f'"{rule.id}"' in source, rule.id
