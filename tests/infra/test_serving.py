"""The serving namespace under Pulumi mocks: what the GKE deploy target finds there."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.conftest import ENVIRONMENTS, one, resources_of

NAMESPACE = "kubernetes:core/v1:Namespace"


def test_the_namespace_enforces_the_restricted_pod_standard(prod: Any) -> None:
    labels = one(prod, NAMESPACE, "serving").props["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_server_pods_act_as_the_serving_account_through_workload_identity(prod: Any) -> None:
    from infra.audit import iam_grants

    account = one(prod, "kubernetes:core/v1:ServiceAccount", "serving-ksa").props
    assert account["metadata"]["name"] == "model-server"
    assert account["metadata"]["namespace"] == "serving"
    assert account["metadata"]["annotations"] == {
        "iam.gke.io/gcp-service-account": "mlops-serving@acme-ml-prod.iam.gserviceaccount.com"
    }
    assert account["automountServiceAccountToken"] is False
    bindings = [
        g
        for g in iam_grants(prod.resources)
        if g["role"] == "roles/iam.workloadIdentityUser" and "[serving/" in g["member"]
    ]
    assert bindings == [
        {
            "member": "serviceAccount:acme-ml-prod.svc.id.goog[serving/model-server]",
            "role": "roles/iam.workloadIdentityUser",
            "resource": "service account mlops-serving@acme-ml-prod.iam.gserviceaccount.com",
            "condition": "",
        }
    ]


def test_only_the_cluster_s_clients_reach_the_server_port(prod: Any) -> None:
    spec = one(prod, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "serving-ingress").props[
        "spec"
    ]
    assert spec["podSelector"] == {}
    [rule] = spec["ingress"]
    assert rule["ports"] == [{"port": 8080}]
    assert rule["from"] == [
        {"podSelector": {}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kubeflow"}}},
        {"ipBlock": {"cidr": "10.50.0.0/20"}},
        {"ipBlock": {"cidr": "10.200.0.0/24"}},
        # The Gateway's proxies (the proxy-only subnet) and Google's health checkers.
        {"ipBlock": {"cidr": "10.129.0.0/23"}},
        {"ipBlock": {"cidr": "35.191.0.0/16"}},
        {"ipBlock": {"cidr": "130.211.0.0/22"}},
    ]


def test_an_internal_gateway_carries_the_alias_routes_after_the_proxy_only_subnet(
    prod: Any,
) -> None:
    from infra.policies.controls import CONTROLS

    gateway = one(prod, "kubernetes:gateway.networking.k8s.io/v1:Gateway", "serving-gateway")
    assert gateway.props["metadata"] == {"name": "models", "namespace": "serving"}
    spec = gateway.props["spec"]
    assert spec["gatewayClassName"] == "gke-l7-rilb"  # an address of the VPC, not the internet
    assert spec["listeners"] == [
        {
            "name": "http",
            "protocol": "HTTP",
            "port": 80,
            "allowedRoutes": {"namespaces": {"from": "Same"}},
        }
    ]
    labels = one(prod, NAMESPACE, "serving").props["metadata"]["labels"]
    assert labels["mlops-kit.io/purpose"] == "model-serving"
    # Not a way into Kubeflow: the IAP control passes it; admitting other namespaces' routes
    # makes it one.
    [control] = [c for c in CONTROLS if c.id == "k8s-kfp-behind-iap"]
    assert list(control.check(prod.resources)) == []
    listener = {**spec["listeners"][0], "allowedRoutes": {"namespaces": {"from": "All"}}}
    opened = type(gateway)(
        gateway.type, gateway.name, {**gateway.props, "spec": {**spec, "listeners": [listener]}}
    )
    others = [r for r in prod.resources if r is not gateway]
    [message] = [m for _r, m in control.check([*others, opened])]
    # Under mocks the port arrives as a float.
    assert message.startswith("Gateway models listens with HTTP on port 80")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_gateway_answers_on_a_reserved_internal_address_of_the_cluster_subnet(
    evaluations: dict[str, Any], env: str
) -> None:
    evaluation = evaluations[env]
    address = one(evaluation, "gcp:compute/address:Address", "serving").props
    assert (address["addressType"], address["purpose"]) == ("INTERNAL", "GCE_ENDPOINT")
    # The cluster's own subnet: the proxy-only subnet's addresses belong to the proxies.
    cluster = one(evaluation, "gcp:container/cluster:Cluster").props
    assert address["subnetwork"] == cluster["subnetwork"]
    assert address["region"] == evaluation.outputs["region"]
    assert address["labels"]["env"] == env
    gateway = one(evaluation, "kubernetes:gateway.networking.k8s.io/v1:Gateway", "serving")
    assert gateway.props["spec"]["addresses"] == [
        {"type": "NamedAddress", "value": address["name"]}
    ]
    # Reserved before the Gateway that names it, and exported for `env import`.
    graph = evaluation.graph
    [reserved] = [n.key for n in graph.of_type("gcp:compute/address:") if "serving" in n.name]
    assert reserved in graph.waits_for((gateway.type, gateway.name))
    assert evaluation.outputs["serving_url"] == "http://10.99.1.10"


def test_the_deployer_and_the_pipeline_may_roll_servers_out_there_and_nothing_else(
    prod: Any,
) -> None:
    role = one(prod, "kubernetes:rbac.authorization.k8s.io/v1:Role", "serving").props
    assert role["metadata"]["namespace"] == "serving"
    granted = {(r["apiGroups"][0], resource) for r in role["rules"] for resource in r["resources"]}
    assert granted == {
        ("apps", "deployments"),
        ("autoscaling", "horizontalpodautoscalers"),
        ("", "services"),
        ("gateway.networking.k8s.io", "httproutes"),
        ("networking.gke.io", "healthcheckpolicies"),
        ("", "serviceaccounts"),
    }
    [accounts] = [r for r in role["rules"] if r["resources"] == ["serviceaccounts"]]
    assert (accounts["resourceNames"], accounts["verbs"]) == (["model-server"], ["get"])
    binding = one(prod, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "serving").props
    assert binding["roleRef"]["name"] == "mlops-kit-deployer"
    assert binding["subjects"] == [
        {
            "kind": "User",
            "name": "mlops-deployer@acme-ml-prod.iam.gserviceaccount.com",
            "apiGroup": "rbac.authorization.k8s.io",
        },
        {"kind": "ServiceAccount", "name": "pipeline-runner", "namespace": "kubeflow"},
    ]
    cluster_wide = resources_of(prod, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")
    assert not [b for b in cluster_wide if "serving" in b.name]


def test_the_kit_s_deployments_fit_the_namespace(prod: Any) -> None:
    from infra.components.serving import GATEWAY as PROGRAM_GATEWAY
    from infra.components.serving import SERVER_PORT
    from infra.program import SERVING_KSA
    from mlops_kit import images
    from mlops_kit.deploy_targets.gke import GATEWAY, SERVICE_ACCOUNT

    # The kit and the program are independent packages: the names they share are checked here.
    assert (SERVER_PORT, SERVING_KSA, PROGRAM_GATEWAY) == (
        images.SERVER_PORT,
        SERVICE_ACCOUNT,
        GATEWAY,
    )
    assert prod.outputs["serving_kubernetes_account"] == SERVING_KSA
