"""Canaries on the local twin: a real server answers a share of the requests with the canary, and
the monitoring check of the canary's own logged predictions promotes or withdraws it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlops_kit.kit import Kit
from mlops_kit.serving.process import ServerProcess
from tests.serving.conftest import FEATURES, MODEL

SPEC = {
    "model": f"{MODEL}@1",
    "window": "1d",
    "slices": ["contract"],
    "min_samples": 20,
    "thresholds": {"accuracy": {"min": 0.6}},
}


def _spec() -> Any:
    from mlops_kit.monitoring import MonitoringSpec

    return MonitoringSpec.model_validate(SPEC)


def _traffic(url: str, requests: int) -> list[tuple[int, int, str, str]]:
    """``(status, version, request id, predicted label)`` of each request."""
    answers = []
    with httpx.Client(timeout=10) as client:
        for _ in range(requests):
            response = client.post(f"{url}/predict", json={"instances": [FEATURES]})
            body = response.json()
            answers.append(
                (
                    response.status_code,
                    body["model_version"],
                    body["request_ids"][0],
                    str(body["predictions"][0]),
                )
            )
    return answers


def _wait_for_canary(url: str, version: int | None) -> None:
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        canary = httpx.get(f"{url}/ready", timeout=5).json()["canary"]
        if (canary or {}).get("version") == version:
            return
        time.sleep(0.05)
    raise AssertionError(f"the server did not take canary {version}")


def _run_canary(
    twin: tuple[Kit, Path], alias: str, version: int, right: bool
) -> list[tuple[int, int, str, str]]:
    """Serve ``alias`` with ``version`` as a 50 % canary; label its answers right or wrong."""
    from mlops_kit.deploy_targets import open_deploy_target

    kit, root = twin
    with ServerProcess(root, f"{MODEL}@{alias}", "--follow-interval", "0.1") as server:
        open_deploy_target(kit).deploy(
            f"{MODEL}@{version}", alias=alias, reason="try it", traffic_share=0.5
        )
        _wait_for_canary(server.url, version)
        answers = _traffic(server.url, 160)
        labels = {
            request_id: label if (served != version or right) else f"not {label}"
            for _, served, request_id, label in answers
        }
        assert httpx.post(f"{server.url}/ground-truth", json={"labels": labels}).status_code == 200
    return answers  # the server flushed its prediction log when it stopped


def test_a_failed_check_withdraws_the_canary_and_a_passed_one_promotes_it(
    twin: tuple[Kit, Path],
) -> None:
    from mlops_kit import models
    from mlops_kit.serving.canary import judge_canary

    kit, root = twin
    models.promote(kit, f"{MODEL}@1", "canaried", "the first")

    answers = _run_canary(twin, "canaried", 2, right=False)
    assert {status for status, *_ in answers} == {200}
    served = [version for _, version, _, _ in answers]
    # Every request answered by one of the two; each takes a fair part of 160 at 50 %.
    assert set(served) == {1, 2}
    assert min(served.count(1), served.count(2)) > 40

    verdict = judge_canary(kit, MODEL, "canaried", _spec())
    assert verdict.outcome == "withdrawn"
    assert verdict.check is not None and not verdict.check.passed
    assert (verdict.deployment.version, verdict.deployment.canary_version) == (1, None)
    withdrawn = models.history(kit, MODEL, "canaried")[-1]
    assert withdrawn.action == "withdraw"
    assert withdrawn.reason.startswith(
        f"canary {MODEL}@2 failed monitoring check run {verdict.check.run_id}: accuracy "
    )

    # A version whose own predictions hold up is promoted, the check run named in the history.
    third = models.register(kit, MODEL, root / "model-1", lineage=models.Lineage(data=["churn@1"]))
    _run_canary(twin, "canaried", third.version, right=True)
    verdict = judge_canary(kit, MODEL, "canaried", _spec())
    assert verdict.outcome == "promoted"
    assert verdict.check is not None and verdict.check.passed
    assert models.get_version(kit, f"{MODEL}@canaried").version == third.version
    events = models.history(kit, MODEL, "canaried")
    assert [e.action for e in events] == ["promote", "canary", "withdraw", "canary", "promote"]
    assert events[-1].reason.startswith(
        f"canary {MODEL}@{third.version} passed monitoring check run {verdict.check.run_id} on "
    )


def test_a_canary_without_enough_labels_is_not_judged(twin: tuple[Kit, Path]) -> None:
    from mlops_kit import models
    from mlops_kit.deploy_targets import open_deploy_target
    from mlops_kit.errors import ConflictError
    from mlops_kit.serving.canary import judge_canary

    kit, _ = twin
    models.promote(kit, f"{MODEL}@1", "quiet", "the first")
    with pytest.raises(ConflictError, match="no canary runs on churn@quiet: start one with"):
        judge_canary(kit, MODEL, "quiet", _spec())
    open_deploy_target(kit).deploy(f"{MODEL}@2", alias="quiet", reason="r", traffic_share=0.2)
    # The prediction log knows versions, not aliases: a window before any of version 2's
    # predictions stands for a canary that has not been asked yet.
    spec = _spec().model_copy(update={"window": "1h"})
    verdict = judge_canary(kit, MODEL, "quiet", spec, end=datetime.now(UTC) - timedelta(days=2))
    assert verdict.outcome == "waiting"
    assert verdict.check is None
    assert "0 labelled predictions, the check needs 20" in verdict.detail
    assert models.running_canary(kit, MODEL, "quiet") is not None


def test_the_follower_loads_the_canary_beside_the_alias_and_drops_it(
    twin: tuple[Kit, Path],
) -> None:
    from mlops_kit import models
    from mlops_kit.serving.follower import AliasFollower
    from mlops_kit.serving.holder import ModelHolder
    from mlops_kit.serving.metrics import ServingMetrics

    kit, _ = twin
    models.promote(kit, f"{MODEL}@1", "followed", "the first")
    holder = ModelHolder()
    follower = AliasFollower(kit, MODEL, "followed", holder, ServingMetrics(MODEL), 60)
    follower.follow_once()
    assert holder.canary is None
    models.start_canary(kit, f"{MODEL}@2", "followed", 0.25, "try it")
    follower.follow_once()
    assert holder.canary is not None
    assert (holder.canary[0].version, holder.canary[1]) == (2, 0.25)
    picked = [holder.pick() for _ in range(400)]
    assert {p.version for p in picked if p is not None} == {1, 2}
    models.withdraw_canary(kit, MODEL, "followed", "enough")
    follower.follow_once()
    assert holder.canary is None
    assert {p.version for p in (holder.pick() for _ in range(50)) if p is not None} == {1}
