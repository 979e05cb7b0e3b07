"""The GKE deploy target against a fake Kubernetes API server on loopback, with the real client.

The registry is the local twin's; the cluster is :class:`~tests.cloud_twin.gke.FakeKubernetes`,
reached through a kubeconfig context named as ``gcloud container clusters get-credentials`` names
it. Every body the client sends is checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlops_kit.deploy_targets import open_deploy_target
from mlops_kit.deploy_targets.gke import GkeTarget, resource_name
from mlops_kit.errors import AdmissionRefusedError, BackendError, ConfigError, ConflictError
from mlops_kit.kit import Kit
from tests.cloud_twin.gke import APPLY, FakeKubernetes
from tests.models.conftest import train_classifier
from tests.serving.conftest import GKE_DEPLOY, GKE_SERVING

IMAGE = "europe-west1-docker.pkg.dev/twin-project/mlops/churn@sha256:" + "a" * 64
OTHER_IMAGE = "europe-west1-docker.pkg.dev/twin-project/mlops/churn@sha256:" + "b" * 64
ATTESTOR = "projects/twin-project/attestors/built-by-ci"


@pytest.fixture
def gke_kit(local_kit: Kit, tmp_path: Path, cluster: FakeKubernetes) -> Kit:
    from mlops_kit import models
    from mlops_kit.models.registration import Lineage

    for seed in range(3):
        # Version 3 records the image it was built in; the others are deployed with --image.
        lineage = Lineage(image_digest=OTHER_IMAGE) if seed == 2 else None
        path = train_classifier(tmp_path / f"m{seed}", seed)
        models.register(local_kit, "churn", path, lineage=lineage)
    environment = local_kit.environment.model_copy(
        update={
            "deploy": GKE_DEPLOY,
            "service_accounts": {"serving": GKE_SERVING},
            "attestor": ATTESTOR,
            "attestor_key": f"{ATTESTOR}-key/cryptoKeyVersions/1",
        }
    )
    return Kit(environment)


def _container(body: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = body["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def test_deploy_rolls_the_image_by_digest_with_probes_resources_and_the_serving_account(
    gke_kit: Kit, cluster: FakeKubernetes
) -> None:
    from mlops_kit import models

    target = open_deploy_target(gke_kit)
    assert isinstance(target, GkeTarget)
    assert target.check().startswith("GKE cluster mlops-twin (twin-project/europe-west1)")
    first = target.deploy("churn@1", alias="production", reason="first", image=IMAGE)
    assert (first.version, first.state, first.traffic_share) == (1, "serving", 1.0)
    assert models.get_version(gke_kit, "churn@production").version == 1

    name = resource_name("churn", "production")
    [deployment] = cluster.applied("deployments")
    assert deployment["metadata"] == {
        "name": name,
        "namespace": "serving",
        "labels": {
            "app.kubernetes.io/name": "mlops-kit-serving",
            "app.kubernetes.io/instance": name,
            "mlops-kit.io/track": "stable",
        },
        "annotations": {"mlops-kit.io/model": "churn", "mlops-kit.io/alias": "production"},
    }
    pod = deployment["spec"]["template"]["spec"]
    # Workload Identity: the pods run as the account bound to the serving Google account.
    assert pod["serviceAccountName"] == "model-server"
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = _container(deployment)
    assert container["image"] == IMAGE
    # The pods follow the alias: an approval or a rollback reaches them without a rollout.
    assert container["args"] == ["serve", "churn@production", "--host", "0.0.0.0", "--port", "8080"]
    assert container["env"] == [{"name": "MLOPS_KIT_ENV", "value": gke_kit.environment.name}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/live", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"memory": "2Gi"},
    }
    assert "replicas" not in deployment["spec"]  # the autoscaler owns it
    [service] = cluster.applied("services")
    # Only the stable pods: a canary gets its share through the route, not the Service.
    assert service["spec"]["selector"] == {
        "app.kubernetes.io/instance": name,
        "mlops-kit.io/track": "stable",
    }
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]
    [health] = cluster.applied("healthcheckpolicies")
    assert health["spec"]["targetRef"] == {"group": "", "kind": "Service", "name": name}
    assert health["spec"]["default"]["config"]["httpHealthCheck"] == {
        "port": 8080,
        "requestPath": "/ready",
    }
    [route] = cluster.applied("httproutes")
    assert route["spec"]["parentRefs"] == [{"name": "models"}]
    [rule] = route["spec"]["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": f"/{name}"}}]
    assert rule["filters"] == [
        {
            "type": "URLRewrite",
            "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}},
        }
    ]
    assert rule["backendRefs"] == [{"name": name, "port": 80, "weight": 100}]
    [autoscaler] = cluster.applied("horizontalpodautoscalers")
    assert autoscaler["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": name,
    }
    assert (autoscaler["spec"]["minReplicas"], autoscaler["spec"]["maxReplicas"]) == (2, 10)
    # Every write is a server-side apply owned by the kit.
    patches = [(path, kind) for method, path, kind, _ in cluster.requests if method == "PATCH"]
    assert len(patches) == 5
    assert all(kind == APPLY and "fieldManager=mlops-kit" in path for path, kind in patches)


def test_a_version_that_records_its_image_is_deployed_in_it_and_rolled_back_in_one_step(
    gke_kit: Kit, cluster: FakeKubernetes
) -> None:
    from mlops_kit import models

    target = open_deploy_target(gke_kit)
    target.deploy("churn@1", alias="production", reason="first", image=IMAGE)
    third = target.deploy("churn@3", alias="production", reason="better on every slice")
    assert third.version == 3
    assert _container(cluster.applied("deployments")[-1])["image"] == OTHER_IMAGE
    back = target.rollback("churn", "production", reason="complaints")
    assert (back.version, back.state) == (1, "serving")
    assert "rolled back 3 -> 1" in back.detail
    assert [e.action for e in models.history(gke_kit, "churn", "production")] == [
        "promote",
        "promote",
        "rollback",
    ]
    with pytest.raises(ConflictError, match="already is version 1"):
        target.deploy("churn@1", alias="production", reason="again", image=IMAGE)


def test_binary_authorization_refusal_names_the_image_and_the_attestation_to_make(
    gke_kit: Kit, cluster: FakeKubernetes
) -> None:
    from mlops_kit import models

    target = open_deploy_target(gke_kit)
    target.deploy("churn@1", alias="production", reason="first", image=IMAGE)
    cluster.attested = {IMAGE}
    with pytest.raises(AdmissionRefusedError) as refused:
        target.deploy("churn@2", alias="production", reason="second", image=OTHER_IMAGE)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"the cluster refused image {OTHER_IMAGE}: it has no attestation")
    assert (
        f"`gcloud container binauthz attestations sign-and-create --artifact-url={OTHER_IMAGE} "
        f"--attestor={ATTESTOR} --keyversion={ATTESTOR}-key/cryptoKeyVersions/1`"
    ) in message
    # The image was refused before the alias moved: the pods keep serving version 1.
    assert models.get_version(gke_kit, "churn@production").version == 1


def _weights(cluster: FakeKubernetes) -> dict[str, int]:
    route = cluster.objects["httproutes", "serving", resource_name("churn", "production")]
    return {b["name"]: b["weight"] for b in route["spec"]["rules"][0]["backendRefs"]}


def _canary_objects(cluster: FakeKubernetes) -> list[tuple[str, str, str]]:
    return sorted(key for key in cluster.objects if "-canary" in key[2])


def _changes(cluster: FakeKubernetes, since: int) -> list[tuple[str, str]]:
    """The writes after request ``since``: (method, the kind's plural and name)."""
    return [
        (method, "/".join(path.split("?")[0].split("/")[-2:]))
        for method, path, _, _ in cluster.requests[since:]
        if method in ("PATCH", "DELETE")
    ]


@pytest.mark.parametrize("stable_pods", [2, 7])
def test_a_canary_takes_exactly_its_route_weight_with_one_pod_whatever_the_stable_count(
    gke_kit: Kit, cluster: FakeKubernetes, stable_pods: int
) -> None:
    from mlops_kit import models

    target = open_deploy_target(gke_kit)
    target.deploy("churn@1", alias="production", reason="first", image=IMAGE)
    name = resource_name("churn", "production")
    autoscaler = cluster.objects["horizontalpodautoscalers", "serving", name]
    autoscaler["spec"]["minReplicas"] = stable_pods  # the autoscaler has added pods
    canary = target.deploy(
        "churn@2", alias="production", reason="try it", image=IMAGE, traffic_share=0.05
    )
    assert (canary.version, canary.canary_version) == (1, 2)
    assert canary.traffic_share == pytest.approx(0.95)
    assert "canary version 2 takes 5% of the traffic" in canary.detail
    assert f"route {name} weights 95/5" in canary.detail
    assert _weights(cluster) == {name: 95, f"{name}-canary": 5}
    body = cluster.applied("deployments")[-1]
    assert body["metadata"]["name"] == f"{name}-canary"
    assert body["spec"]["replicas"] == 1
    assert _container(body)["args"][:2] == ["serve", "churn@2"]  # pinned, not following
    [service] = [
        s for s in cluster.applied("services") if s["metadata"]["name"].endswith("-canary")
    ]
    assert service["spec"]["selector"] == {
        "app.kubernetes.io/instance": name,
        "mlops-kit.io/track": "canary",
    }
    # The share read back is the route's weight, as recorded in the registry.
    assert target.status("churn", "production").traffic_share == pytest.approx(0.95)
    assert models.running_canary(gke_kit, "churn", "production").traffic_share == 0.05
    # The stable pods' autoscaler changes nothing of the split.
    autoscaler["spec"]["minReplicas"] = 10
    assert target.status("churn", "production").traffic_share == pytest.approx(0.95)
    # What the route says is what is reported, whoever set it.
    stable, canary_ref = cluster.objects["httproutes", "serving", name]["spec"]["rules"][0][
        "backendRefs"
    ]
    stable["weight"], canary_ref["weight"] = 80, 20
    assert target.status("churn", "production").traffic_share == pytest.approx(0.8)
    stable["weight"], canary_ref["weight"] = 0, 0
    drained = target.status("churn", "production")
    assert (drained.traffic_share, f"route {name} weights 0/0" in drained.detail) == (1.0, True)


def test_a_route_whose_version_annotation_was_removed_reads_the_canary_from_the_registry(
    gke_kit: Kit, cluster: FakeKubernetes
) -> None:
    from mlops_kit.deploy_targets.gke import VERSION_ANNOTATION

    target = open_deploy_target(gke_kit)
    target.deploy("churn@1", alias="production", reason="first", image=IMAGE)
    target.deploy("churn@2", alias="production", reason="try", image=IMAGE, traffic_share=0.05)
    name = resource_name("churn", "production")
    annotations = cluster.objects["httproutes", "serving", name]["metadata"]["annotations"]
    for edited in (None, "two", "²"):  # removed, or edited by hand
        if edited is None:
            annotations.pop(VERSION_ANNOTATION)
        else:
            annotations[VERSION_ANNOTATION] = edited
        assert target.status("churn", "production").canary_version == 2
    # Neither the route nor the registry knows: one line saying how to end the canary.
    target.withdraw_canary("churn", "production", reason="stop")
    cluster.objects["httproutes", "serving", name] = cluster.applied("httproutes")[-2]
    cluster.objects["httproutes", "serving", name]["metadata"]["annotations"] = {}
    with pytest.raises(BackendError, match=r"^route .* neither its .* annotation nor the registry"):
        target.status("churn", "production")


@pytest.mark.parametrize("end", ["promote", "rollback", "withdraw"])
def test_a_canary_ends_off_the_route_first_then_its_pods_go(
    gke_kit: Kit, cluster: FakeKubernetes, end: str
) -> None:
    from mlops_kit import models

    target = open_deploy_target(gke_kit)
    target.deploy("churn@1", alias="production", reason="first", image=IMAGE)
    target.deploy("churn@3", alias="production", reason="second", image=IMAGE)
    target.deploy("churn@2", alias="production", reason="try", image=IMAGE, traffic_share=0.01)
    name = resource_name("churn", "production")
    assert _weights(cluster) == {name: 99, f"{name}-canary": 1}
    since = len(cluster.requests)
    if end == "promote":
        done = target.deploy("churn@2", alias="production", reason="passed", image=IMAGE)
        expected = 2
    elif end == "rollback":
        done = target.rollback("churn", "production", reason="complaints")
        expected = 1
    else:
        done = target.withdraw_canary("churn", "production", reason="check run 3 failed")
        expected = 3
    assert (done.version, done.canary_version, done.traffic_share) == (expected, None, 1.0)
    assert models.get_version(gke_kit, "churn@production").version == expected
    assert _weights(cluster) == {name: 100}
    assert _canary_objects(cluster) == []
    assert [c for c in _changes(cluster, since) if "-canary" in c[1] or "httproutes" in c[1]] == [
        ("PATCH", f"httproutes/{name}"),
        ("DELETE", f"deployments/{name}-canary"),
        ("DELETE", f"services/{name}-canary"),
        ("DELETE", f"healthcheckpolicies/{name}-canary-health"),
    ]
    assert target.status("churn", "production").canary_version is None


@pytest.mark.parametrize("share", [0.0, -0.05, 1.5, float("nan"), 0.004, 0.996])
def test_a_share_the_route_cannot_give_is_a_one_line_error_and_changes_nothing(
    gke_kit: Kit, cluster: FakeKubernetes, share: float
) -> None:
    target = open_deploy_target(gke_kit)
    target.deploy("churn@1", alias="production", reason="first", image=IMAGE)
    since = len(cluster.requests)
    with pytest.raises(ConfigError) as refused:
        target.deploy("churn@2", alias="production", reason="r", image=IMAGE, traffic_share=share)
    assert "\n" not in str(refused.value)
    assert "share" in str(refused.value)
    assert _changes(cluster, since) == []


def test_a_refused_route_update_leaves_no_canary_behind(
    gke_kit: Kit, cluster: FakeKubernetes
) -> None:
    from mlops_kit import models

    target = open_deploy_target(gke_kit)
    target.deploy("churn@1", alias="production", reason="first", image=IMAGE)
    name = resource_name("churn", "production")
    cluster.refuse("PATCH", "httproutes", "admission webhook denied the route")
    with pytest.raises(BackendError, match="refused to apply HTTPRoute .*denied the route"):
        target.deploy("churn@2", alias="production", reason="r", image=IMAGE, traffic_share=0.1)
    assert _canary_objects(cluster) == []
    assert models.running_canary(gke_kit, "churn", "production") is None
    assert _weights(cluster) == {name: 100}


def test_a_refused_withdrawal_names_what_is_left_and_the_command_that_removes_it(
    gke_kit: Kit, cluster: FakeKubernetes
) -> None:
    target = open_deploy_target(gke_kit)
    target.deploy("churn@1", alias="production", reason="first", image=IMAGE)
    target.deploy("churn@2", alias="production", reason="r", image=IMAGE, traffic_share=0.1)
    name = resource_name("churn", "production")
    cluster.refuse("PATCH", "httproutes")
    with pytest.raises(BackendError) as refused:
        target.withdraw_canary("churn", "production", reason="failed")
    message = str(refused.value)
    assert "\n" not in message
    assert (
        f"left of the canary of churn@production in serving: the route {name}'s weight for "
        f"{name}-canary, Deployment {name}-canary, Service {name}-canary, HealthCheckPolicy "
        f"{name}-canary-health: remove it with `mlops-kit deploy churn@1 --alias production "
        "--reason 'remove the canary'`"
    ) in message
    # The canary's pods still serve its weight: nothing routes to a deleted backend.
    assert _weights(cluster) == {name: 90, f"{name}-canary": 10}
    assert ("deployments", "serving", f"{name}-canary") in cluster.objects
    cluster.refusals.clear()
    cleaned = target.deploy("churn@1", alias="production", reason="remove the canary")
    assert (cleaned.version, cleaned.canary_version) == (1, None)
    assert _canary_objects(cluster) == []
    assert _weights(cluster) == {name: 100}


def test_refusals_are_one_line_and_name_the_fix(
    gke_kit: Kit, cluster: FakeKubernetes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = open_deploy_target(gke_kit)
    with pytest.raises(ConfigError, match="is not named by a digest"):
        target.deploy("churn@1", alias="production", reason="r", image="churn:latest")
    with pytest.raises(ConfigError, match="churn@1 records no serving image: pass one by digest"):
        target.deploy("churn@1", alias="production", reason="r")

    cluster.add_service_account("serving", "model-server", "someone@else.iam.gserviceaccount.com")
    with pytest.raises(ConfigError, match=f"is bound to someone@else.*, not {GKE_SERVING}"):
        target.deploy("churn@1", alias="production", reason="r", image=IMAGE)
    del cluster.objects["serviceaccounts", "serving", "model-server"]
    with pytest.raises(ConfigError, match="does not exist on mlops-twin: create the serving"):
        target.check()

    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    with pytest.raises(ConfigError, match="gcloud container clusters get-credentials mlops-twin"):
        open_deploy_target(gke_kit).check()
    # Nothing was applied by any refused deployment.
    assert cluster.applied("deployments") == []


@pytest.mark.parametrize(
    ("model", "alias"),
    [("churn", "production"), ("Churn_Model", "production"), ("9lives", "canary-2")],
)
def test_kubernetes_names_are_valid_and_distinct(model: str, alias: str) -> None:
    import re

    name = resource_name(model, alias)
    assert re.fullmatch(r"[a-z][a-z0-9-]{0,53}[a-z0-9]", name)
    assert name != resource_name(model.lower(), alias) or model == model.lower()


def test_on_a_protected_alias_the_canary_keeps_its_share_until_the_approval(
    gke_kit: Kit, cluster: FakeKubernetes
) -> None:
    from mlops_kit import models

    target = open_deploy_target(gke_kit)
    target.deploy("churn@1", alias="production", reason="first", image=IMAGE)
    protected = Kit(gke_kit.environment.model_copy(update={"protected_aliases": ["production"]}))
    target = open_deploy_target(protected)
    target.deploy("churn@2", alias="production", reason="try", image=IMAGE, traffic_share=0.25)
    waiting = target.deploy("churn@2", alias="production", reason="canary passed", image=IMAGE)
    assert (waiting.state, waiting.pending_version, waiting.canary_version) == (
        "awaiting approval",
        2,
        2,
    )
    assert len(_canary_objects(cluster)) == 3  # Deployment, Service and health check
    assert _weights(cluster)[resource_name("churn", "production")] == 75
    assert models.get_version(protected, "churn@production").version == 1
    models.approve(protected, "churn", "production", actor="someone-else")
    done = target.deploy("churn@2", alias="production", reason="approved", image=IMAGE)
    assert (done.version, done.canary_version, done.traffic_share) == (2, None, 1.0)
    assert _canary_objects(cluster) == []


def test_the_route_attaches_to_the_gateway_and_the_canary_runs_the_pods_the_uri_names(
    gke_kit: Kit, cluster: FakeKubernetes
) -> None:
    uri = f"{GKE_DEPLOY}?gateway=shared-gateways/internal&canary_replicas=3"
    target = open_deploy_target(Kit(gke_kit.environment.model_copy(update={"deploy": uri})))
    target.deploy("churn@1", alias="production", reason="first", image=IMAGE)
    target.deploy("churn@2", alias="production", reason="r", image=IMAGE, traffic_share=0.1)
    route = cluster.applied("httproutes")[-1]
    assert route["spec"]["parentRefs"] == [{"name": "internal", "namespace": "shared-gateways"}]
    assert cluster.applied("deployments")[-1]["spec"]["replicas"] == 3
    assert _weights(cluster) == {
        resource_name("churn", "production"): 90,
        resource_name("churn", "production") + "-canary": 10,
    }


def test_with_the_gateway_s_address_the_target_says_where_the_alias_is_served(
    gke_kit: Kit, cluster: FakeKubernetes
) -> None:
    # What `mlops-kit env import` writes from the stack's serving_url.
    uri = f"{GKE_DEPLOY}?service_account=model-server&url=http://10.20.0.5"
    target = open_deploy_target(Kit(gke_kit.environment.model_copy(update={"deploy": uri})))
    name = resource_name("churn", "production")
    url = f"http://10.20.0.5/{name}/predict"
    first = target.deploy("churn@1", alias="production", reason="first", image=IMAGE)
    assert first.url == url
    assert first.detail == f"churn@production is version 1; served at {url}"
    canary = target.deploy(
        "churn@2", alias="production", reason="r", image=IMAGE, traffic_share=0.1
    )
    assert canary.detail.endswith(
        f"takes 10% of the traffic (route {name} weights 90/10); served at {url}"
    )
    assert target.status("churn", "production").url == url
    # Before the first deployment there is no route, so nowhere to send predictions yet.
    assert target.status("churn", "staging").url is None
    # Without the address (an older environment file) the target says nothing of it.
    unknown = open_deploy_target(gke_kit).status("churn", "production")
    assert (unknown.url, "served at" in unknown.detail) == (None, False)


@pytest.mark.parametrize("url", ["10.20.0.5", "ftp://10.20.0.5", "http://10.20.0.5/churn"])
def test_a_gateway_url_that_is_not_an_address_is_a_one_line_error(gke_kit: Kit, url: str) -> None:
    environment = gke_kit.environment.model_copy(update={"deploy": f"{GKE_DEPLOY}?url={url}"})
    with pytest.raises(
        ConfigError, match="url in deploy URI must be http://ADDRESS of the serving"
    ):
        open_deploy_target(Kit(environment))
