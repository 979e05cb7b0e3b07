"""The twin's environment deploys to the twin's GKE cluster; the cluster keeps routes as the API does."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from mlops_kit.deploy_targets import open_deploy_target
from mlops_kit.kit import Kit
from tests.cloud_twin.gke import FakeKubernetes
from tests.cloud_twin.twin import PROJECT, REGION, SERVING_ACCOUNT, CloudTwin
from tests.models.conftest import train_classifier

IMAGE = f"{REGION}-docker.pkg.dev/{PROJECT}/mlops/churn@sha256:" + "d" * 64


def test_the_twin_deploys_a_version_of_its_registry_to_its_cluster(
    cloud_twin: CloudTwin, tmp_path: Path
) -> None:
    from mlops_kit import models
    from mlops_kit.db import migrate
    from mlops_kit.models.registration import Lineage

    assert cloud_twin.kubernetes is not None
    name = f"churn-{uuid.uuid4().hex[:8]}"  # the twin's database is shared by the session
    with Kit.open("twin") as kit:
        migrate.upgrade(kit.metadata)
        path = train_classifier(tmp_path / "m", 0)
        models.register(kit, name, path, lineage=Lineage(image_digest=IMAGE))
        deployment = open_deploy_target(kit).deploy(f"{name}@1", alias="production", reason="r")
        assert (deployment.version, deployment.state) == (1, "serving")
    [applied] = cloud_twin.kubernetes.applied("deployments")
    [container] = applied["spec"]["template"]["spec"]["containers"]
    assert container["image"] == IMAGE
    variables = {variable["name"]: variable["value"] for variable in container["env"]}
    assert variables["MLOPS_KIT_ENV"] == "twin"
    # The pods reach the registry as the serving account they act as, not as the pipeline runner.
    metadata = urlsplit(variables["MLOPS_KIT_METADATA"])
    assert parse_qs(metadata.query)["iam_user"] == [SERVING_ACCOUNT]
    assert metadata.netloc == urlsplit(cloud_twin.environment().metadata).netloc


def test_the_cluster_keeps_http_routes_with_the_api_server_s_conflicts(tmp_path: Path) -> None:
    from kubernetes import config
    from kubernetes.client import CustomObjectsApi
    from kubernetes.client.exceptions import ApiException

    cluster = FakeKubernetes().start()
    try:
        kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig", "twin")
        client = config.new_client_from_config(config_file=str(kubeconfig), context="twin")
        routes = CustomObjectsApi(client)
        where = ("gateway.networking.k8s.io", "v1", "serving", "httproutes")
        route = {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "churn"},
            "spec": {"rules": [{"backendRefs": [{"name": "churn", "port": 80, "weight": 100}]}]},
        }
        with pytest.raises(ApiException) as absent:
            routes.get_namespaced_custom_object(*where, "churn")
        assert absent.value.status == 404
        created = routes.create_namespaced_custom_object(*where, route)
        with pytest.raises(ApiException) as taken:
            routes.create_namespaced_custom_object(*where, route)
        assert (taken.value.status, json.loads(taken.value.body)["reason"]) == (
            409,
            "AlreadyExists",
        )
        created["spec"]["rules"][0]["backendRefs"][0]["weight"] = 90
        replaced = routes.replace_namespaced_custom_object(*where, "churn", created)
        assert replaced["metadata"]["generation"] == 2
        # A writer that read the route before that replacement is refused, not merged.
        with pytest.raises(ApiException) as stale:
            routes.replace_namespaced_custom_object(*where, "churn", created)
        assert (stale.value.status, json.loads(stale.value.body)["reason"]) == (409, "Conflict")
        got = routes.get_namespaced_custom_object(*where, "churn")
        assert got["spec"]["rules"][0]["backendRefs"][0]["weight"] == 90
        routes.delete_namespaced_custom_object(*where, "churn")
        with pytest.raises(ApiException) as deleted:
            routes.delete_namespaced_custom_object(*where, "churn")
        assert deleted.value.status == 404
    finally:
        cluster.stop()
