"""The table of metrics: how each is finished from the warehouse's sums, with its interval.

:data:`METRICS` is the one place a metric is declared: the monitoring spec, the checks, the
promotion gate, the pipelines' evaluation and the HTML legend read it. The sums come from
:func:`~mlops_kit.monitoring.metrics.sliced_sums`; this module imports no ibis or warehouse, so a
project's settings are validated against the table without loading either.

Intervals: Wilson score for proportions; Hanley–McNeil for ROC AUC; a normal interval of the mean
per-row loss; none for F1, which has no closed form.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from mlops_kit.errors import shorten

Task = Literal["classification", "regression"]

_Z: Final = 1.959963984540054
_ROUNDING: Final = 1e-12


@dataclass(frozen=True)
class Estimate:
    """A metric value with its 95 % confidence interval (``None`` bounds when there is none)."""

    value: float | None
    lower: float | None = None
    upper: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        """The estimate as JSON-able data."""
        return {"value": self.value, "lower": self.lower, "upper": self.upper}


def wilson(successes: float, trials: float) -> Estimate:
    """A proportion with its Wilson score interval (``None`` when there are no trials)."""
    if trials <= 0:
        return Estimate(None)
    p = successes / trials
    denominator = 1 + _Z**2 / trials
    centre = (p + _Z**2 / (2 * trials)) / denominator
    half = _Z * math.sqrt(p * (1 - p) / trials + _Z**2 / (4 * trials**2)) / denominator
    # At 0 or all successes a bound is exactly 0 or 1; rounding leaves it a hair inside.
    lower, upper = centre - half, centre + half
    return Estimate(p, 0.0 if lower < _ROUNDING else lower, 1.0 if upper > 1 - _ROUNDING else upper)


def hanley_mcneil(auc_numerator: float, positives: float, negatives: float) -> Estimate:
    """ROC AUC with the Hanley–McNeil (1982) standard error (``None`` without both classes)."""
    if positives <= 0 or negatives <= 0:
        return Estimate(None)
    auc = auc_numerator / (positives * negatives)
    q1 = auc / (2 - auc)
    q2 = 2 * auc**2 / (1 + auc)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)
    ) / (positives * negatives)
    half = _Z * math.sqrt(max(variance, 0.0))
    return Estimate(auc, max(0.0, auc - half), min(1.0, auc + half))


def mean_interval(total: float, total_sq: float, n: float) -> Estimate:
    """A mean with its normal-approximation interval, from the sum and the sum of squares."""
    if n <= 0:
        return Estimate(None)
    mean = total / n
    if n < 2:
        return Estimate(mean)
    variance = max(total_sq / n - mean**2, 0.0) * n / (n - 1)
    half = _Z * math.sqrt(variance / n)
    return Estimate(mean, mean - half, mean + half)


class Sums:
    """The sums of one row of :func:`~mlops_kit.monitoring.metrics.sliced_sums`.

    A missing or NaN sum reads as 0.
    """

    def __init__(self, row: Mapping[str, Any]) -> None:
        self.row = row

    def __getitem__(self, name: str) -> float:
        value = self.row.get(name)
        return 0.0 if value is None or value != value else float(value)


@dataclass(frozen=True)
class Reference:
    """A metric's reference implementation: a function of ``sklearn.metrics``.

    It is called as ``function(truth, predicted or score, **options)`` on 0/1 labels for a
    classification, numbers for a regression.
    """

    function: str
    reads: Literal["predicted", "score"] = "predicted"
    options: Mapping[str, Any] = field(default_factory=dict)
    both_classes: bool = False
    """Defined only when the truth holds both classes."""

    def __str__(self) -> str:
        return f"sklearn.metrics.{self.function}"


@dataclass(frozen=True)
class Metric:
    """One metric: how it comes from the warehouse's sums, its interval and which way is better."""

    name: str
    """How specs, thresholds, reports and the registry name it."""
    task: Task
    """The task whose models it measures."""
    from_sums: Callable[[Sums], Estimate]
    """Its value and interval from one slice's sums
    (:func:`~mlops_kit.monitoring.metrics.sliced_sums`)."""
    interval: str
    """The kind of its 95 % interval (``Wilson``, ``Hanley–McNeil``, ``normal``, ``none``)."""
    direction: Literal["higher", "lower"]
    """Which way is better."""
    reference: Reference
    """What the pipelines' evaluation computes for the registry baseline."""
    needs: str = "labelled predictions"
    """What the metric needs to have a value, for the note that says why it has none."""

    def improvement(self, new: float, old: float) -> float:
        """How much better ``new`` is than ``old`` (negative: worse)."""
        return old - new if self.direction == "lower" else new - old


def _accuracy(sums: Sums) -> Estimate:
    return wilson(sums["correct"], sums["n"])


def _precision(sums: Sums) -> Estimate:
    return wilson(sums["tp"], sums["said_pos"])


def _recall(sums: Sums) -> Estimate:
    return wilson(sums["tp"], sums["actual_pos"])


def _f1(sums: Sums) -> Estimate:
    denominator = sums["said_pos"] + sums["actual_pos"]
    return Estimate(2 * sums["tp"] / denominator if denominator else None)


def _roc_auc(sums: Sums) -> Estimate:
    return hanley_mcneil(sums["auc_num"], sums["auc_pos"], sums["auc_neg"])


def _log_loss(sums: Sums) -> Estimate:
    return mean_interval(sums["loss_sum"], sums["loss_sq_sum"], sums["scored"])


def _mae(sums: Sums) -> Estimate:
    return mean_interval(sums["abs_sum"], sums["sq_sum"], sums["n"])


def _rmse(sums: Sums) -> Estimate:
    mse = mean_interval(sums["sq_sum"], sums["sq_sq_sum"], sums["n"])
    return Estimate(
        None if mse.value is None else math.sqrt(mse.value),
        None if mse.lower is None else math.sqrt(max(mse.lower, 0.0)),
        None if mse.upper is None else math.sqrt(mse.upper),
    )


_NO_ZERO_DIVISION: Final = {"zero_division": 0}

# One row per metric, in the order reports list them. First line: its name, its task, how it comes
# from the warehouse's sums, the kind of its 95 % interval and which way is better. Then its
# reference implementation and, when it needs more than labelled predictions to have a value, what.
# fmt: off
METRICS: Final[dict[str, Metric]] = {metric.name: metric for metric in (
    #      name         task              from the sums  interval         better
    Metric("accuracy",  "classification", _accuracy,     "Wilson",        "higher",
           Reference("accuracy_score")),
    Metric("precision", "classification", _precision,    "Wilson",        "higher",
           Reference("precision_score", options=_NO_ZERO_DIVISION),
           "a prediction of the positive class"),
    Metric("recall",    "classification", _recall,       "Wilson",        "higher",
           Reference("recall_score", options=_NO_ZERO_DIVISION),
           "a label of the positive class"),
    Metric("f1",        "classification", _f1,           "none",          "higher",
           Reference("f1_score", options=_NO_ZERO_DIVISION),
           "the positive class among the predictions or the labels"),
    Metric("roc_auc",   "classification", _roc_auc,      "Hanley–McNeil", "higher",
           Reference("roc_auc_score", reads="score", both_classes=True),
           "logged scores and labels of both classes (the positive one and another)"),
    Metric("log_loss",  "classification", _log_loss,     "normal",        "lower",
           Reference("log_loss", reads="score", options={"labels": [0, 1]}, both_classes=True),
           "logged scores"),
    Metric("mae",       "regression",     _mae,          "normal",        "lower",
           Reference("mean_absolute_error")),
    Metric("rmse",      "regression",     _rmse,         "normal",        "lower",
           Reference("root_mean_squared_error")),
)}
# fmt: on
"""Every metric the kit computes, by name: the one place a metric is declared."""


def metric_names(task: Task) -> list[str]:
    """The names of ``task``'s metrics, in the table's order."""
    return [name for name, metric in METRICS.items() if metric.task == task]


def unknown_metric(names: Iterable[str], task: Task, also: Sequence[str] = ()) -> str | None:
    """A message naming the first unknown of ``names``, or ``None``.

    Known are ``task``'s metrics and the names in ``also``.
    """
    known = [*metric_names(task), *also]
    for name in names:
        if name not in known:
            return f"unknown {task} metric {shorten(name)!r} (known: {', '.join(known)})"
    return None


def improvement(name: str, new: float, old: float) -> float:
    """How much better ``new`` is than ``old`` on metric ``name`` (higher is better if unknown)."""
    metric = METRICS.get(name)
    return metric.improvement(new, old) if metric else new - old


def finish_metrics(row: Mapping[str, Any], task: Task) -> tuple[int, dict[str, Estimate]]:
    """The count and metrics of one row of :func:`~mlops_kit.monitoring.metrics.sliced_sums`."""
    sums = Sums(row)
    return int(sums["n"]), {
        name: metric.from_sums(sums) for name, metric in METRICS.items() if metric.task == task
    }
