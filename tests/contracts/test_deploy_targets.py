"""The deploy-target contract, through the public interface only, on every offline target.

``local`` moves the alias in the local twin's registry; ``gke`` rolls the serving image out on a
fake Kubernetes API server on loopback (:class:`~tests.cloud_twin.gke.FakeKubernetes`) with the real
client. A new target runs the suite by adding its scheme to ``OFFLINE`` and a branch to
:func:`deploy_kit` that points a kit at a fresh instance of its platform.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_kit.deploy_targets import open_deploy_target
from mlops_kit.errors import ConfigError, ConflictError, NotFoundError
from mlops_kit.kit import Kit
from tests.models.conftest import train_classifier
from tests.serving.conftest import GKE_DEPLOY, GKE_SERVING

MODEL = "churn"
IMAGE = "europe-west1-docker.pkg.dev/twin-project/mlops/churn@sha256:" + "a" * 64


@pytest.fixture(params=["local", "gke"])
def deploy_kit(request: pytest.FixtureRequest, local_kit: Kit, tmp_path: Path) -> Kit:
    """A kit whose deploy target is a fresh platform, and two versions of :data:`MODEL`."""
    from mlops_kit import models
    from mlops_kit.models.registration import Lineage

    for seed in range(2):
        path = train_classifier(tmp_path / f"m{seed}", seed)
        models.register(local_kit, MODEL, path, lineage=Lineage(image_digest=IMAGE))
    if request.param == "local":
        return local_kit
    request.getfixturevalue("cluster")
    return Kit(
        local_kit.environment.model_copy(
            update={"deploy": GKE_DEPLOY, "service_accounts": {"serving": GKE_SERVING}}
        )
    )


def _protected(kit: Kit) -> Kit:
    return Kit(kit.environment.model_copy(update={"protected_aliases": ["production"]}))


def test_a_deployment_takes_the_alias_and_a_rollback_restores_the_previous_one(
    deploy_kit: Kit,
) -> None:
    from mlops_kit import models

    target = open_deploy_target(deploy_kit)
    assert "\n" not in target.check()
    assert target.status(MODEL, "production").version is None
    first = target.deploy(f"{MODEL}@1", alias="production", reason="first")
    assert (first.version, first.state, first.traffic_share) == (1, "serving", 1.0)
    with pytest.raises(ConflictError, match="already is version 1"):
        target.deploy(f"{MODEL}@1", alias="production", reason="again")
    target.deploy(f"{MODEL}@2", alias="production", reason="second")
    assert models.get_version(deploy_kit, f"{MODEL}@production").version == 2

    back = target.rollback(MODEL, "production", reason="second is wrong")

    assert (back.version, back.state) == (1, "serving")
    assert back.detail.startswith(f"{MODEL}@production rolled back 2 -> 1")
    assert target.status(MODEL, "production").version == 1
    history = models.history(deploy_kit, MODEL, "production")
    assert [(e.action, e.to_version) for e in history] == [
        ("promote", 1),
        ("promote", 2),
        ("rollback", 1),
    ]


def test_a_canary_takes_a_share_beside_the_holder_until_it_is_withdrawn(deploy_kit: Kit) -> None:
    from mlops_kit import models

    target = open_deploy_target(deploy_kit)
    with pytest.raises(ConfigError, match="at most 1, not 1.5"):
        target.deploy(f"{MODEL}@2", alias="production", reason="r", traffic_share=1.5)
    with pytest.raises(NotFoundError, match="serves nothing yet: deploy a version to all"):
        target.deploy(f"{MODEL}@2", alias="production", reason="r", traffic_share=0.25)
    target.deploy(f"{MODEL}@1", alias="production", reason="first")
    with pytest.raises(ConflictError, match="already is version 1: nothing to canary"):
        target.deploy(f"{MODEL}@1", alias="production", reason="r", traffic_share=0.25)

    canary = target.deploy(f"{MODEL}@2", alias="production", reason="try", traffic_share=0.25)

    assert (canary.version, canary.canary_version) == (1, 2)
    assert 0.0 < canary.traffic_share < 1.0
    assert models.get_version(deploy_kit, f"{MODEL}@production").version == 1  # the alias waits
    withdrawn = target.withdraw_canary(MODEL, "production", reason="check failed")
    assert (withdrawn.version, withdrawn.canary_version, withdrawn.traffic_share) == (1, None, 1.0)
    assert withdrawn.detail.startswith(f"{MODEL}@2 withdrawn from production")
    with pytest.raises(ConflictError, match=f"no canary runs on {MODEL}@production"):
        target.withdraw_canary(MODEL, "production", reason="again")


def test_a_protected_alias_awaits_approval(deploy_kit: Kit) -> None:
    waiting = open_deploy_target(_protected(deploy_kit)).deploy(
        f"{MODEL}@1", alias="production", reason="first"
    )

    assert (waiting.state, waiting.version, waiting.pending_version) == (
        "awaiting approval",
        None,
        1,
    )
    assert f"mlops-kit models approve {MODEL} --alias production" in waiting.detail


@pytest.mark.parametrize(
    "uri",
    [
        "gke://p/europe-west1/cluster",
        "gke://p/europe-west1/cluster/ns/extra",
        "gke://p/europe-west1/Cluster/ns",
        "gke://p/europe-west1/cluster/..%2Fkube-system",
        "gke://p/europe-west1/cluster/ns?rollout_timeout=soon",
        "gke://p/europe-west1/cluster/ns?canary_replicas=0",
        "gke://p/europe-west1/cluster/ns?rollout_timeout=nan",
        "gke://p/europe-west1/cluster/ns?rollout_timeout=-1",
        "gke://p/europe-west1/cluster/ns?canary_replicas=two",
        "gke://p/europe-west1/cluster/ns?canary_replicas=%C2%B2",
        "gke://p/europe-west1/cluster/ns?canary_replicas=" + "9" * 5000,
        "gke://p/europe-west1/cluster/ns?gateway=models%0A",
        "gke://p/europe-west1/cluster/ns?url=http://%5B::1",
        "gke://p/europe-west1/cluster/ns?url=http://10.20.0.5:99999",
        "gke://p/europe-west1/cluster/ns?url=http://user:secret@10.20.0.5",
        "gke://p/europe-west1/cluster/ns?gateway=Models",
        "gke://p/europe-west1/cluster/ns?gateway=a/b/c",
        "vertex-endpoint://p/europe-west1",
        "vertex-endpoint://p/europe-west1/e/extra",
        "vertex-endpoint://p/europe-west1/e?min_replicas=0",
        "vertex-endpoint://p/europe-west1/e?max_replicas=many",
    ],
)
def test_a_malformed_deploy_uri_is_refused_in_one_line_before_any_call(
    local_kit: Kit, uri: str
) -> None:
    environment = local_kit.environment.model_copy(update={"deploy": uri})
    with pytest.raises(ConfigError, match="deploy URI") as refused:
        open_deploy_target(Kit(environment))
    assert "\n" not in str(refused.value)
