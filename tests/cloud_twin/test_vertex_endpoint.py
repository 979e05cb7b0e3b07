"""The Vertex AI endpoint deploy target on the twin: the real google-cloud-aiplatform clients
(REST transport) against the twin's Vertex AI, the registry on its Cloud SQL and Cloud Storage.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mlops_kit.deploy_targets import open_deploy_target
from mlops_kit.errors import BackendError, ConfigError, ConflictError, DryRunEnded, NotFoundError
from mlops_kit.kit import Kit
from tests.cloud_twin.twin import PROJECT, REGION, CloudTwin
from tests.models.conftest import train_classifier

IMAGE = f"{REGION}-docker.pkg.dev/{PROJECT}/mlops/churn@sha256:" + "c" * 64
SERVING = f"mlops-serving@{PROJECT}.iam.gserviceaccount.com"


@contextmanager
def endpoint_kit(
    cloud_twin: CloudTwin, tmp_path: Path, access: str = "public", query: str = ""
) -> Iterator[tuple[Kit, str, Any]]:
    """A kit deploying to a fresh endpoint of the twin reached by ``access``, and a model of two
    versions; ``query`` is appended to the deploy URI."""
    from mlops_kit import models
    from mlops_kit.db import migrate
    from mlops_kit.models.registration import Lineage

    vertex = cloud_twin.vertex
    assert vertex is not None
    endpoint_id = uuid.uuid4().hex[:12]
    vertex.create_endpoint(PROJECT, REGION, endpoint_id, access)
    environment = cloud_twin.environment().model_copy(
        update={
            "deploy": f"vertex-endpoint://{PROJECT}/{REGION}/{endpoint_id}"
            f"?api_endpoint={vertex.endpoint}&machine_type=n1-standard-4&max_replicas=5{query}",
            "service_accounts": {**cloud_twin.environment().service_accounts, "serving": SERVING},
        }
    )
    # Model names are unique: the twin's database is shared by every test of the session.
    name = f"churn-{endpoint_id}"
    with Kit(environment) as kit:
        migrate.upgrade(kit.metadata)
        for seed in range(2):
            path = train_classifier(tmp_path / f"m{seed}", seed)
            models.register(kit, name, path, lineage=Lineage(image_digest=IMAGE))
        yield kit, name, vertex


@pytest.fixture
def vertex_kit(cloud_twin: CloudTwin, tmp_path: Path) -> Iterator[tuple[Kit, str, Any]]:
    """A kit deploying to a fresh public endpoint of the twin, and a model of two versions."""
    with endpoint_kit(cloud_twin, tmp_path) as made:
        yield made


def test_a_version_is_uploaded_in_the_serving_image_and_takes_the_endpoint(
    vertex_kit: tuple[Kit, str, Any],
) -> None:
    from mlops_kit import models

    kit, name, vertex = vertex_kit
    target = open_deploy_target(kit)
    assert target.check().startswith("Vertex AI endpoint ")
    first = target.deploy(f"{name}@1", alias="production", reason="first")
    assert (first.version, first.traffic_share, first.canary_version) == (1, 1.0, None)

    [upload] = vertex.posted("/models:upload")
    model = upload["model"]
    assert model["artifactUri"] == models.get_version(kit, f"{name}@1").artifact_uri
    assert model["artifactUri"].startswith("gs://")
    env = model["containerSpec"].pop("env")
    assert env[0] == {"name": "MLOPS_KIT_ENV", "value": "twin"}
    assert env[1]["name"] == "MLOPS_KIT_METADATA"
    assert f"iam_user={SERVING}" in env[1]["value"]
    assert model["containerSpec"] == {
        "imageUri": IMAGE,
        "args": ["serve", f"{name}@1", "--host", "0.0.0.0"],
        "ports": [{"containerPort": 8080}],
        "predictRoute": "/predict",
        "healthRoute": "/ready",
    }
    assert model["labels"]["mlops-kit-version"] == "1"
    [deploy] = vertex.posted(":deployModel")
    assert deploy["trafficSplit"] == {"0": 100}
    deployed = deploy["deployedModel"]
    assert deployed["displayName"] == f"{name}@1"
    assert deployed["serviceAccount"] == SERVING
    assert deployed["dedicatedResources"] == {
        "machineSpec": {"machineType": "n1-standard-4"},
        "minReplicaCount": 1,
        "maxReplicaCount": 5,
    }


def test_a_canary_then_a_full_deployment_then_a_rollback_move_the_traffic_split(
    vertex_kit: tuple[Kit, str, Any],
) -> None:
    from mlops_kit import models

    kit, name, vertex = vertex_kit
    target = open_deploy_target(kit)
    target.deploy(f"{name}@1", alias="production", reason="first")
    canary = target.deploy(f"{name}@2", alias="production", reason="try", traffic_share=0.1)
    assert (canary.version, canary.canary_version, canary.traffic_share) == (1, 2, 0.9)
    first_id = vertex.posted(":deployModel")[0]["deployedModel"]["model"]
    split = vertex.posted(":deployModel")[-1]["trafficSplit"]
    assert split["0"] == 10 and sorted(split.values()) == [10, 90]
    assert models.get_version(kit, f"{name}@production").version == 1  # the alias waits

    full = target.deploy(f"{name}@2", alias="production", reason="canary passed")
    assert (full.version, full.traffic_share, full.canary_version) == (2, 1.0, None)
    # Version 2 was deployed already: only version 1 is undeployed, its share given to 2.
    assert len(vertex.posted(":deployModel")) == 2
    [undeploy] = vertex.posted(":undeployModel")
    assert list(undeploy["trafficSplit"].values()) == [100]

    back = target.rollback(name, "production", reason="complaints")
    assert (back.version, back.traffic_share) == (1, 1.0)
    # Version 1's Vertex model is found again by its labels, not uploaded twice.
    assert len(vertex.posted("/models:upload")) == 2
    assert vertex.posted(":deployModel")[-1]["deployedModel"]["model"] == first_id
    assert [e.action for e in models.history(kit, name, "production")] == [
        "promote",
        "canary",
        "promote",
        "rollback",
    ]
    again = target.deploy(f"{name}@2", alias="production", reason="again", traffic_share=0.2)
    assert (again.canary_version, again.traffic_share) == (2, 0.8)
    withdrawn = target.withdraw_canary(name, "production", reason="check run 9 failed")
    assert (withdrawn.version, withdrawn.traffic_share, withdrawn.canary_version) == (1, 1.0, None)
    assert list(vertex.posted(":undeployModel")[-1]["trafficSplit"].values()) == [100]


def test_refusals_are_one_line(vertex_kit: tuple[Kit, str, Any], cloud_twin: CloudTwin) -> None:
    kit, name, vertex = vertex_kit
    target = open_deploy_target(kit)
    with pytest.raises(NotFoundError, match="before a canary"):
        target.deploy(f"{name}@2", alias="production", reason="r", traffic_share=0.1)
    target.deploy(f"{name}@1", alias="production", reason="first")
    with pytest.raises(ConfigError, match="whole percent"):
        target.deploy(f"{name}@2", alias="production", reason="r", traffic_share=0.001)
    with pytest.raises(ConflictError, match="already is version 1"):
        target.deploy(f"{name}@1", alias="production", reason="again")
    vertex.refusal = "Permission 'aiplatform.endpoints.deploy' denied"
    try:
        with pytest.raises(BackendError) as refused:
            target.deploy(f"{name}@2", alias="production", reason="r")
    finally:
        vertex.refusal = None
    assert "\n" not in str(refused.value)
    assert "Vertex AI refused to read the endpoint" in str(refused.value)
    assert "aiplatform.endpoints.deploy" in str(refused.value)


def _endpoint(kit: Kit) -> str:
    """The resource name of the endpoint ``kit`` deploys to."""
    name = kit.environment.deploy.removeprefix("vertex-endpoint://").partition("?")[0]
    project, region, endpoint_id = name.split("/")
    return f"projects/{project}/locations/{region}/endpoints/{endpoint_id}"


def test_a_public_endpoint_answers_predictions_on_the_regional_host(
    vertex_kit: tuple[Kit, str, Any],
) -> None:
    kit, name, vertex = vertex_kit
    target = open_deploy_target(kit)
    with pytest.raises(BackendError, match="has no deployed model"):
        target.predict([{"tenure": 3}])
    target.deploy(f"{name}@1", alias="production", reason="first")
    target.deploy(f"{name}@2", alias="production", reason="try", traffic_share=0.1)
    answer = target.predict([{"tenure": 3}, {"tenure": 40}])
    assert answer["predictions"] == [f"{name}@1", f"{name}@1"]  # the 90 % side answers
    assert vertex.posted(":predict") == [
        {"instances": [{"tenure": 3}]},
        {"instances": [{"tenure": 3}, {"tenure": 40}]},
    ]
    # A dry run sends nothing: the model server would log the request.
    with Kit(kit.environment) as dry:
        dry.start_dry_run("`predict`")
        with pytest.raises(DryRunEnded, match=r"^dry run: `predict` would send 1 instances to "):
            open_deploy_target(dry).predict([{"tenure": 3}])
    assert len(vertex.posted(":predict")) == 2


def test_a_dedicated_endpoint_answers_on_its_own_dns_name_and_is_managed_on_the_regional_api(
    cloud_twin: CloudTwin, tmp_path: Path
) -> None:
    with endpoint_kit(cloud_twin, tmp_path, "dedicated") as (kit, name, vertex):
        target = open_deploy_target(kit)
        target.deploy(f"{name}@1", alias="production", reason="first")
        # Found on the endpoint: the deploy URI names no prediction host.
        assert target.predict([{"tenure": 3}])["predictions"] == [f"{name}@1"]
        endpoint = _endpoint(kit)
        assert vertex.endpoints[endpoint]["dedicatedEndpointDns"] == (
            vertex.prediction_hosts[endpoint].url
        )
        # Vertex AI refuses the endpoint's predictions on the regional host.
        regional = kit.environment.model_copy(
            update={"deploy": f"{kit.environment.deploy}&predict_host={vertex.endpoint}"}
        )
        with Kit(regional) as other, pytest.raises(BackendError) as refused:
            open_deploy_target(other).predict([{"tenure": 3}])
        assert "\n" not in str(refused.value)
        assert str(refused.value).startswith(
            f"Vertex AI refused to answer a prediction request at {vertex.endpoint} on {endpoint}:"
        )
        assert "use its dedicated DNS name" in str(refused.value)


def test_a_psc_endpoint_answers_through_the_forwarding_rule_named_in_the_deploy_uri(
    cloud_twin: CloudTwin, tmp_path: Path, run_cli: Any
) -> None:
    with endpoint_kit(cloud_twin, tmp_path, "private-service-connect") as (kit, name, vertex):
        target = open_deploy_target(kit)
        target.deploy(f"{name}@1", alias="production", reason="first")
        with pytest.raises(ConfigError) as unknown:
            target.predict([{"tenure": 3}])
        assert str(unknown.value) == (
            f"Vertex AI endpoint {name.removeprefix('churn-')} takes predictions only through "
            "Private Service Connect: add ?predict_host=ADDRESS (your forwarding rule's) to the "
            "deploy URI, or set vertexEndpoint.predictHost in the stack and `mlops-kit env "
            "import` again"
        )
        rule = vertex.prediction_hosts[_endpoint(kit)].url
        environment = kit.environment.model_copy(
            update={
                "name": f"twin-{name.removeprefix('churn-')}",
                "deploy": f"{kit.environment.deploy}&predict_host={rule}",
            }
        )
        path = cloud_twin.environments_dir / f"{environment.name}.yaml"
        path.write_text(json.dumps(environment.model_dump(mode="json")), encoding="utf-8")
        instances = tmp_path / "instances.json"
        instances.write_text(json.dumps({"instances": [{"tenure": 3}]}), encoding="utf-8")
        try:
            result = run_cli(
                "--env", environment.name, "predict", str(instances), "--format", "json"
            )
            assert result.exit_code == 0, result.stderr
            assert json.loads(result.stdout)["predictions"] == [f"{name}@1"]
            table = run_cli("--env", environment.name, "predict", str(instances))
            assert table.stdout.strip() == json.dumps(f"{name}@1")
        finally:
            path.unlink()
        # The deployment went to the regional API, the predictions to the forwarding rule alone.
        assert len(vertex.posted(":deployModel")) == 1
        assert len(vertex.posted(":predict")) == 2


@pytest.mark.parametrize(
    "host", ["evil.example/../v1", "<script>x</script>", "10.0.0.1;DROP TABLE x", "a b"]
)
def test_a_hostile_predict_host_is_refused_in_one_line(
    vertex_kit: tuple[Kit, str, Any], host: str
) -> None:
    from urllib.parse import quote

    kit, _, _ = vertex_kit
    hostile = kit.environment.model_copy(
        update={"deploy": f"{kit.environment.deploy}&predict_host={quote(host, safe='')}"}
    )
    with Kit(hostile) as other, pytest.raises(ConfigError) as refused:
        open_deploy_target(other)
    assert str(refused.value).startswith("predict_host in deploy URI must be a host name")
    assert "\n" not in str(refused.value)
