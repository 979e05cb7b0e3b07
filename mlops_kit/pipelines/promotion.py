"""The gate: a candidate becomes the champion only if it is better where the project says it must be."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final

from mlops_kit.errors import ConfigError, NotFoundError

if TYPE_CHECKING:
    from mlops_kit.kit import Kit
    from mlops_kit.models import ModelVersion

CHAMPION: Final = "champion"


@dataclass(frozen=True)
class GateDecision:
    """Whether a candidate model version replaces the champion, and why.

    Attributes:
        candidate: the candidate's reference (``churn@3``).
        champion: the champion's reference before the decision (``None``: there was none).
        promoted: whether the candidate became the champion.
        reasons: why, one line each; when not promoted, every check it failed.
    """

    candidate: str
    champion: str | None
    promoted: bool
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The decision as JSON-able data."""
        return asdict(self)


def decide(
    candidate: str,
    candidate_metrics: Mapping[str, Any],
    champion: str | None,
    champion_metrics: Mapping[str, Any] | None,
    metrics: Sequence[str],
    slices: Sequence[str] = (),
    min_improvement: float = 0.0,
    slice_tolerance: float = 0.02,
) -> GateDecision:
    """Compare a candidate with the champion on the configured metrics and slices.

    The candidate must beat the champion on the first metric by more than ``min_improvement``, be
    no worse on the other metrics, and lose no more than ``slice_tolerance`` of the first metric on
    any value of the configured slice columns that both were evaluated on. Higher is better for
    every metric except ``log_loss``, ``mae`` and ``rmse``.

    Args:
        candidate: reference of the candidate version.
        candidate_metrics: its metrics JSON.
        champion: reference of the current champion, if any.
        champion_metrics: the champion's metrics JSON.
        metrics: the metric names to compare, the deciding one first.
        slices: slice columns on which the candidate must not regress.
        min_improvement: the margin by which the first metric must improve.
        slice_tolerance: how much of the first metric a slice may lose.
    """
    if champion is None or champion_metrics is None:
        return GateDecision(
            candidate, None, True, ["no champion yet: the first version becomes it"]
        )
    primary, *others = metrics
    new, old = candidate_metrics.get("overall", {}), champion_metrics.get("overall", {})
    failures: list[str] = []
    if primary not in new:
        failures.append(f"{primary} missing from the candidate's metrics")
    elif primary in old and not _gain(primary, new[primary], old[primary]) > min_improvement:
        failures.append(
            f"{primary} {new[primary]:.4f} is not better than the champion's {old[primary]:.4f}"
            + (f" by more than {min_improvement:g}" if min_improvement else "")
        )
    for name in others:
        if name in new and name in old and _gain(name, new[name], old[name]) < 0:
            failures.append(f"{name} {new[name]:.4f} is worse than the champion's {old[name]:.4f}")
    for column in slices:
        new_values = candidate_metrics.get("slices", {}).get(column, {})
        old_values = champion_metrics.get("slices", {}).get(column, {})
        for value in sorted(set(new_values) & set(old_values)):
            a, b = new_values[value].get(primary), old_values[value].get(primary)
            if a is not None and b is not None and _gain(primary, a, b) < -slice_tolerance:
                failures.append(
                    f"{primary} on {column}={value} {a:.4f} is worse than the champion's {b:.4f} "
                    f"by more than {slice_tolerance:g}"
                )
    if failures:
        return GateDecision(candidate, champion, False, failures)
    gain = _gain(primary, new[primary], old.get(primary, float("-inf")))
    return GateDecision(
        candidate, champion, True, [f"{primary} improves on {champion} by {gain:.4f}"]
    )


_LOWER_IS_BETTER = frozenset({"log_loss", "mae", "rmse"})


def _gain(metric: str, new: float, old: float) -> float:
    return old - new if metric in _LOWER_IS_BETTER else new - old


def gate_candidate(
    kit: Kit,
    model_ref: str,
    metrics: Sequence[str],
    slices: Sequence[str] = (),
    min_improvement: float = 0.0,
    slice_tolerance: float = 0.02,
) -> GateDecision:
    """Decide about ``model_ref`` (see :func:`decide`) and promote it to ``champion`` if it wins.

    A candidate that does not win is left as it is: the decision, with every reason, is what the
    run reports.

    Raises:
        NotFoundError: the candidate does not exist.
        ConfigError: ``metrics`` is empty.
    """
    from mlops_kit import models

    if not metrics:
        raise ConfigError("the gate needs at least one metric: set 'gate.metrics' in the config")
    candidate = models.get_version(kit, model_ref)
    try:
        champion = models.get_version(kit, f"{candidate.name}@{CHAMPION}")
    except NotFoundError:
        champion = None
    decision = decide(
        candidate.ref,
        _metrics_json(candidate),
        champion.ref if champion else None,
        _metrics_json(champion) if champion else None,
        metrics,
        slices,
        min_improvement,
        slice_tolerance,
    )
    if decision.promoted:
        models.promote(kit, candidate.ref, CHAMPION, reason="; ".join(decision.reasons))
    return decision


def _metrics_json(version: ModelVersion) -> dict[str, Any]:
    return {"overall": version.metrics, "slices": version.slices}
