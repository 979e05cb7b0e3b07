"""The gate: a candidate becomes the champion only if it is better where the project says it must be."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final

from mlops_kit.errors import ConfigError, NotFoundError
from mlops_kit.monitoring.metric_table import Task, improvement, unknown_metric

if TYPE_CHECKING:
    from mlops_kit.kit import Kit
    from mlops_kit.models import ModelVersion
    from mlops_kit.orchestrators import PipelineRun

CHAMPION: Final = "champion"
GATE_TASK: Final[Task] = "classification"
"""The gate scores with the evaluation's binary classification metrics, and knows no others."""


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

    @property
    def message(self) -> str:
        """One line for people: the verdict and every reason."""
        verdict = "promoted to champion" if self.promoted else "NOT promoted"
        return f"{self.candidate} {verdict}: " + "; ".join(self.reasons)

    @classmethod
    def of_run(cls, run: PipelineRun) -> GateDecision | None:
        """The decision a finished training run returned (``None``: it ran elsewhere)."""
        import json

        output = run.outputs.get("Output")
        return None if output is None else cls(**json.loads(str(output)))


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
    no worse on the other metrics, and lose no more than ``slice_tolerance`` of any of the metrics
    on any value of the configured slice columns that both were evaluated on. Which way is better
    comes from the table of metrics (:data:`~mlops_kit.monitoring.metric_table.METRICS`). A promotion's
    reasons name the slice values where the candidate gains more than ``slice_tolerance`` on the
    first metric: where the improvement comes from.

    Args:
        candidate: reference of the candidate version.
        candidate_metrics: its metrics JSON.
        champion: reference of the current champion, if any.
        champion_metrics: the champion's metrics JSON.
        metrics: the metric names to compare, the deciding one first.
        slices: slice columns compared value by value.
        min_improvement: the margin by which the first metric must improve.
        slice_tolerance: how much of a metric a slice may lose.
    """
    if champion is None or champion_metrics is None:
        return GateDecision(
            candidate, None, True, ["no champion yet: the first version becomes it"]
        )
    # A NaN compares false with everything: it would pass every check it takes part in.
    not_finite = _not_finite(candidate, candidate_metrics, metrics, slices)
    not_finite += _not_finite(champion, champion_metrics, metrics, slices)
    if not_finite:
        return GateDecision(candidate, champion, False, not_finite)
    primary = metrics[0]
    new, old = candidate_metrics.get("overall", {}), champion_metrics.get("overall", {})
    failures = _overall_failures(new, old, metrics, min_improvement)
    improvements: list[str] = []
    for column in slices:
        comparison = _SliceComparison(
            column,
            candidate_metrics.get("slices", {}).get(column, {}),
            champion_metrics.get("slices", {}).get(column, {}),
        )
        failures += comparison.failures(metrics, slice_tolerance)
        improvements += comparison.improvements(primary, slice_tolerance)
    if failures:
        return GateDecision(candidate, champion, False, failures)
    gain = improvement(primary, new[primary], old.get(primary, float("-inf")))
    overall = f"{primary} improves on {champion} by {gain:.4f}"
    if primary in old:
        overall += f" ({new[primary]:.4f} against {old[primary]:.4f})"
    return GateDecision(candidate, champion, True, [overall, *improvements])


def _not_finite(
    ref: str, metrics_json: Mapping[str, Any], metrics: Sequence[str], slices: Sequence[str]
) -> list[str]:
    """One reason per compared metric of ``ref`` that is NaN or infinite, overall or per slice."""
    values = [("", metrics_json.get("overall", {}))] + [
        (f" on {column}={value}", numbers)
        for column in slices
        for value, numbers in metrics_json.get("slices", {}).get(column, {}).items()
    ]
    return [
        f"{name} of {ref}{where} is {number}, not a finite number: it cannot be compared"
        for where, numbers in values
        for name in metrics
        if (number := numbers.get(name)) is not None and not math.isfinite(number)
    ]


def _overall_failures(
    new: Mapping[str, float],
    old: Mapping[str, float],
    metrics: Sequence[str],
    min_improvement: float,
) -> list[str]:
    """Why the candidate's overall metrics do not beat the champion's (empty: they do)."""
    primary, *others = metrics
    failures: list[str] = []
    if primary not in new:
        failures.append(f"{primary} missing from the candidate's metrics")
    elif primary in old and not improvement(primary, new[primary], old[primary]) > min_improvement:
        failures.append(
            f"{primary} {new[primary]:.4f} is not better than the champion's {old[primary]:.4f}"
            + (f" by more than {min_improvement:g}" if min_improvement else "")
        )
    failures += [
        f"{name} {new[name]:.4f} is worse than the champion's {old[name]:.4f}"
        for name in others
        if name in new and name in old and improvement(name, new[name], old[name]) < 0
    ]
    return failures


@dataclass(frozen=True)
class _SliceComparison:
    """The candidate's and the champion's metrics on the values of one slice column."""

    column: str
    new: Mapping[str, Mapping[str, float]]
    old: Mapping[str, Mapping[str, float]]

    def judged(self, primary: str) -> list[str]:
        """The values both were evaluated on (with the deciding metric), in natural order."""
        return [
            value
            for value in sorted(set(self.new) & set(self.old), key=_value_order)
            if primary in self.new[value] and primary in self.old[value]
        ]

    def failures(self, metrics: Sequence[str], tolerance: float) -> list[str]:
        """Each metric the candidate loses by more than ``tolerance`` on a value."""
        return [
            f"{name} on {self.column}={value} {a:.4f} is worse than the champion's "
            f"{b:.4f} by more than {tolerance:g}"
            for value in self.judged(metrics[0])
            for name in metrics
            if (a := self.new[value].get(name)) is not None
            and (b := self.old[value].get(name)) is not None
            and improvement(name, a, b) < -tolerance
        ]

    def improvements(self, primary: str, tolerance: float) -> list[str]:
        """Where the deciding metric gains more than ``tolerance``, as one reason (or none)."""
        judged = self.judged(primary)
        better = [
            f"{self.column}={value} {a:.4f} against {b:.4f}"
            for value in judged
            if improvement(primary, a := self.new[value][primary], b := self.old[value][primary])
            > tolerance
        ]
        if not better:
            return []
        return [
            f"{primary} better on {len(better)} of {len(judged)} values of {self.column} by more "
            f"than {tolerance:g}: " + ", ".join(better)
        ]


def _value_order(value: str) -> tuple[int, float | str]:
    # Hours and other numbers in numeric order: 2 before 10.
    try:
        return (0, float(value))
    except ValueError:
        return (1, value)


def gate_candidate(
    kit: Kit,
    model_ref: str,
    target: str,
    metrics: Sequence[str],
    slices: Sequence[str] = (),
    min_improvement: float = 0.0,
    slice_tolerance: float = 0.02,
    weak_slice_min_count: int | None = None,
) -> GateDecision:
    """Decide about ``model_ref`` (see :func:`decide`) and promote it to ``champion`` if it wins.

    The candidate and the champion are both scored on the held-out rows of the candidate's
    training data version, overall and per value of ``slices``: each version's own evaluation
    was on its own data, and a champion trained on part of the data (a few hours of the day)
    looks good there. Only when the champion cannot score those rows (it needs columns they lack)
    are the metrics recorded at registration compared, and the decision says so.

    A candidate that does not win is left as it is: the decision, with every reason, is what the
    run reports. A promotion records its reasons in the alias history.

    Args:
        kit: the environment.
        model_ref: the candidate (``churn@4``).
        target: the label column of the training data.
        metrics: the metric names to compare, the deciding one first.
        slices: slice columns compared value by value.
        min_improvement: the margin by which the first metric must improve.
        slice_tolerance: how much of a metric a slice may lose.
        weak_slice_min_count: when given, the candidate's held-out rows are also searched for
            the feature values where it does worst (the monitoring report's search, slice values
            of at least this many rows); the decision lists them as a reason to look, not to
            refuse.

    Raises:
        NotFoundError: the candidate does not exist.
        ConfigError: ``metrics`` is empty or names an unknown metric, or the target or a slice
            column is not in the data.
    """
    from mlops_kit import models

    if not metrics:
        raise ConfigError("the gate needs at least one metric: set 'gate.metrics' in the config")
    unknown = unknown_metric(metrics, GATE_TASK)
    if unknown:
        raise ConfigError(f"{unknown}: correct 'gate.metrics' in the config")
    candidate = models.get_version(kit, model_ref)
    try:
        champion = models.get_version(kit, f"{candidate.name}@{CHAMPION}")
    except NotFoundError:
        champion = None
    candidate_metrics = _metrics_json(candidate)
    champion_metrics = _metrics_json(champion) if champion else None
    notes: list[str] = []
    if champion is not None and not candidate.datasets:
        notes.append(
            f"{candidate.ref} records no data version: compared with the metrics recorded at "
            "registration"
        )
    elif champion is not None:
        dataset_ref = candidate.datasets[0]
        held_out = _held_out_rows(kit, dataset_ref, target)
        candidate_metrics = _score(kit, candidate.ref, held_out, target, slices)
        try:
            champion_metrics = _score(kit, champion.ref, held_out, target, slices)
        except Exception as exc:  # noqa: BLE001 - any model code may fail on another schema
            candidate_metrics = _metrics_json(candidate)
            notes.append(
                f"{champion.ref} cannot score {dataset_ref} ({type(exc).__name__}: {exc}): "
                "compared with the metrics recorded at registration"
            )
        else:
            notes.append(f"both scored on the {len(held_out)} held-out rows of {dataset_ref}")
    decision = decide(
        candidate.ref,
        candidate_metrics,
        champion.ref if champion else None,
        champion_metrics,
        metrics,
        slices,
        min_improvement,
        slice_tolerance,
    )
    if weak_slice_min_count is not None and candidate.datasets:
        notes.append(
            _weak_slices(kit, candidate.ref, candidate.datasets[0], target, weak_slice_min_count)
        )
    decision = replace(decision, reasons=[*decision.reasons, *notes])
    if decision.promoted:
        models.promote(kit, candidate.ref, CHAMPION, reason="; ".join(decision.reasons))
    return decision


def _weak_slices(kit: Kit, model_ref: str, dataset_ref: str, target: str, min_count: int) -> str:
    """One reason line: where ``model_ref`` does worst on the held-out rows of ``dataset_ref``."""
    from mlops_kit.pipelines.evaluation import load_classifier, weak_slices_of

    held_out = _held_out_rows(kit, dataset_ref, target)
    weak = weak_slices_of(load_classifier(kit, model_ref), held_out, target, min_count=min_count)
    where = f"on the held-out rows of {dataset_ref}"
    if not weak:
        return f"no weak slice of {model_ref} {where} (at least {min_count} rows each)"
    return f"weak slices of {model_ref} {where}: " + "; ".join(str(w) for w in weak)


def _held_out_rows(kit: Kit, dataset_ref: str, target: str) -> Any:
    from mlops_kit import data
    from mlops_kit.pipelines.evaluation import holdout_split

    _, held_out = holdout_split(data.load(kit, dataset_ref, as_="pandas"), target)
    return held_out


def _score(
    kit: Kit, model_ref: str, rows: Any, target: str, slices: Sequence[str]
) -> dict[str, Any]:
    from mlops_kit.pipelines.evaluation import evaluate_classifier, load_classifier

    return evaluate_classifier(load_classifier(kit, model_ref), rows, target, slices)


def _metrics_json(version: ModelVersion) -> dict[str, Any]:
    return {"overall": version.metrics, "slices": version.slices}
