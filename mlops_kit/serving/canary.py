"""Judging a canary: the monitoring check of the canary version's own predictions decides.

A canary (``mlops-kit deploy NAME@VERSION --alias ALIAS --canary SHARE``) serves a share of the
alias's traffic through the environment's deploy target, and every prediction is logged with the
version that made it. :func:`judge_canary` builds the monitoring report of the canary version alone
and runs the check of the monitoring spec on it: passed, the version is deployed to all of the
traffic; failed, the canary is withdrawn. Either move names the check run in the alias history.
Until the canary has ``min_samples`` labelled predictions nothing is judged: a verdict on a
handful of rows would be noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from mlops_kit.deploy_targets import Deployment, open_deploy_target
from mlops_kit.errors import ConflictError

if TYPE_CHECKING:
    from mlops_kit.kit import Kit
    from mlops_kit.monitoring import CheckResult, MonitoringSpec

Outcome = Literal["promoted", "awaiting approval", "withdrawn", "waiting"]


@dataclass(frozen=True)
class CanaryVerdict:
    """What judging a canary did."""

    outcome: Outcome
    deployment: Deployment
    """What serves the alias afterwards."""
    check: CheckResult | None
    """The check run (``None`` while the canary has too few labelled predictions)."""
    detail: str
    """One line for people."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "outcome": self.outcome,
            "deployment": self.deployment.to_dict(),
            "check": None if self.check is None else self.check.to_dict(),
            "detail": self.detail,
        }


def judge_canary(
    kit: Kit,
    model: str,
    alias: str,
    spec: MonitoringSpec,
    *,
    end: datetime | None = None,
    image: str | None = None,
) -> CanaryVerdict:
    """Check the canary of ``MODEL@ALIAS`` on its own logged predictions, then move it.

    Args:
        kit: the environment.
        model: the model.
        alias: the alias the canary runs on.
        spec: the monitoring spec whose thresholds judge the canary.
        end: the end of the window of predictions (default: now).
        image: the serving image of the promotion, on targets that run containers (default: the
            one recorded with the version).

    Raises:
        ConflictError: no canary runs on the alias.
        NotFoundError: the model or the canary's training data does not exist.
        BackendError: the warehouse, the registry or the platform failed.
    """
    from mlops_kit import models
    from mlops_kit.monitoring import run_check
    from mlops_kit.monitoring.check import spec_report

    canary = models.running_canary(kit, model, alias)
    if canary is None:
        raise ConflictError(
            f"no canary runs on {model}@{alias}: start one with `mlops-kit deploy "
            f"{model}@VERSION --alias {alias} --canary 0.1 --reason ...`"
        )
    ref = f"{model}@{canary.version}"
    report = spec_report(kit, spec, ref, end=end or datetime.now(UTC))
    target = open_deploy_target(kit)
    if report.labelled < spec.min_samples:
        return CanaryVerdict(
            "waiting",
            target.status(model, alias),
            None,
            f"{ref} has {report.labelled} labelled predictions, the check needs "
            f"{spec.min_samples}: judge it again once more ground truth is logged",
        )
    # The canary's own check: a retraining request would answer the champion's monitoring.
    result = run_check(kit, report, spec, retrain=False)
    if result.passed:
        reason = (
            f"canary {ref} passed monitoring check run {result.run_id} on "
            f"{report.labelled} labelled predictions"
        )
        deployment = target.deploy(ref, alias=alias, reason=reason, image=image)
        outcome: Outcome = (
            "awaiting approval" if deployment.state == "awaiting approval" else "promoted"
        )
        return CanaryVerdict(outcome, deployment, result, f"{reason}: {deployment.detail}")
    broken = "; ".join(str(v) for v in result.violations[:3])
    more = f" (+{len(result.violations) - 3} more)" if len(result.violations) > 3 else ""
    reason = f"canary {ref} failed monitoring check run {result.run_id}: {broken}{more}"
    deployment = target.withdraw_canary(model, alias, reason=reason)
    return CanaryVerdict("withdrawn", deployment, result, reason)
