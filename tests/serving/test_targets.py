"""The deploy-target role: chosen by the environment, ``local`` moves the alias."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_kit.deploy_targets import open_deploy_target
from mlops_kit.errors import ConflictError, UnknownSchemeError
from mlops_kit.kit import Kit
from tests.models.conftest import train_classifier


@pytest.fixture
def versions(local_kit: Kit, tmp_path: Path) -> Kit:
    from mlops_kit import models

    for seed in range(2):
        models.register(local_kit, "clf", train_classifier(tmp_path / f"m{seed}", seed))
    return local_kit


def test_a_local_canary_is_recorded_and_withdrawn_in_the_alias_history(versions: Kit) -> None:
    from mlops_kit import models

    target = open_deploy_target(versions)
    target.deploy("clf@1", alias="production", reason="first")
    canary = target.deploy("clf@2", alias="production", reason="try it", traffic_share=0.1)
    assert (canary.version, canary.canary_version, canary.traffic_share) == (1, 2, 0.9)
    assert models.running_canary(versions, "clf", "production") is not None
    assert models.get_version(versions, "clf@production").version == 1  # the alias waits
    withdrawn = target.withdraw_canary("clf", "production", reason="check run 7 failed")
    assert (withdrawn.version, withdrawn.canary_version, withdrawn.traffic_share) == (1, None, 1.0)
    assert withdrawn.detail.startswith("clf@2 withdrawn from production")
    with pytest.raises(ConflictError, match="no canary runs on clf@production"):
        target.withdraw_canary("clf", "production", reason="again")
    events = models.history(versions, "clf", "production")
    assert [(e.action, e.from_version, e.to_version, e.traffic_share) for e in events] == [
        ("promote", None, 1, None),
        ("canary", 1, 2, 0.1),
        ("withdraw", 2, 1, None),
    ]
    assert events[-1].reason == "check run 7 failed"
    # A canary never held the alias: rollback and holder lookups skip it.
    assert models.holder_at(versions, "clf", "production", events[-1].at) == 1


def test_unknown_targets_are_named(versions: Kit) -> None:
    environment = versions.environment.model_copy(update={"deploy": "k8s://cluster/ns"})
    with pytest.raises(
        UnknownSchemeError,
        match="unknown deploy scheme 'k8s' in 'k8s://cluster/ns': use one of gke://, local, vertex-endpoint://$",
    ):
        open_deploy_target(Kit(environment))


def test_the_deploy_and_canary_commands(versions: Kit, run_cli) -> None:  # type: ignore[no-untyped-def]
    first = run_cli("deploy", "clf@1", "--alias", "production", "--reason", "first")
    assert (first.exit_code, first.stdout.strip()) == (
        0,
        "clf@production -> version 1: serving processes follow it",
    )
    canary = run_cli(
        "deploy",
        "clf@2",
        "--alias",
        "production",
        "--reason",
        "try",
        "--canary",
        "0.1",
        "--format",
        "json",
    )
    assert canary.exit_code == 0
    assert '"canary_version": 2' in canary.stdout
    withdrawn = run_cli("canary", "withdraw", "clf", "--alias", "production", "--reason", "no")
    assert withdrawn.stdout.startswith("clf@2 withdrawn from production")
    for args, message in (
        (("deploy", "clf@2", "--alias", "../prod", "--reason", "r"), "alias"),
        (
            ("deploy", "clf@2", "--alias", "production", "--reason", "r", "--canary", "2"),
            "at most 1",
        ),
        (("deploy", "clf@9", "--alias", "production", "--reason", "r"), "no version 9"),
        (("canary", "judge", "clf", "--alias", "production", "--spec", "none.yaml"), "none.yaml"),
        (("canary", "withdraw", "clf", "--alias", "production", "--reason", "r"), "no canary"),
    ):
        refused = run_cli(*args)
        assert refused.exit_code != 0, args
        assert message in refused.stderr and len(refused.stderr.strip().splitlines()) == 1, (
            args,
            refused.stderr,
        )


def test_predict_on_the_local_target_says_where_predictions_go(
    local_kit: Kit, tmp_path: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    instances = tmp_path / "instances.json"
    instances.write_text('{"instances": [{"tenure": 3}]}', encoding="utf-8")
    local = run_cli("predict", str(instances))
    assert local.exit_code != 0
    assert "the deploy target local sends no predictions itself: POST" in local.stderr
    assert "/predict route of the `mlops-kit serve` process" in local.stderr
    for body, says in [
        ('{"instances": []}', "holds no instances"),
        ('{"rows": [1]}', "holds no instances"),
        ("<html>", "is not valid JSON"),
        ('{"instances": [{"tenure": Infinity}]}', "holds NaN or an infinite number"),
        ('[{"tenure": [NaN]}]', "holds NaN or an infinite number"),
        ('[{"tenure": 1e400}]', "holds NaN or an infinite number"),
    ]:
        instances.write_text(body, encoding="utf-8")
        bad = run_cli("predict", str(instances))
        assert bad.exit_code != 0
        assert says in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1
