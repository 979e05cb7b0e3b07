"""The twin's environment deploys to the twin's GKE cluster, found through its kubeconfig."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from mlops_kit.deploy_targets import open_deploy_target
from mlops_kit.kit import Kit
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
