"""Performance estimated from the scores before the labels arrive, and the calibration it assumes.

For a binary classifier whose score is the probability of the positive class, confidence-based
performance estimation (CBPE, as NannyML names it) takes each score as the chance that its
prediction's label is positive. With calibrated scores the confusion matrix expected at the
model's decision (the logged prediction) is, over the scored predictions of a slice:

- expected true positives: the sum of the scores of the predictions of the positive class;
- expected false positives: the sum of their complements; expected false negatives and true
  negatives likewise over the predictions of the other class.

Accuracy, precision, recall and F1 follow from those sums; ROC AUC from the expected rank sums
of the score histogram (:func:`~mlops_kit.monitoring.metrics.sliced_sums`: scores rounded to 4
decimals, pairs within one bin counting half, so the binning moves it by at most half the share
of pairs within one bin, below 1e-4 for spread scores). Every sum comes from the warehouse with
the realised metrics' sums, in the same query.

The 95 % interval of an estimate is where the realised value falls if the scores are calibrated:
the labels are independent Bernoulli draws of the scores, so a count of positives has the
variance ``sum(s * (1 - s))``; accuracy and precision are such counts over a fixed number of
predictions (normal interval), recall and F1 ratios of two independent ones (delta method), and
ROC AUC takes the Hanley–McNeil interval at the expected class counts.

Calibration is checked on the model version's labelled history: ten equal-width bins of the
score, the expected calibration error (ECE: the mean gap between a bin's mean score and its share
of positives, weighted by its rows) against ``max_calibration_error``. A bin gap within sampling
noise is no evidence, so the assumption fails only when the ECE is above the limit and at least
one bin's mean score lies outside the Wilson interval of its share of positives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final

from mlops_kit.monitoring.metric_table import Estimate, Sums, hanley_mcneil, wilson
from mlops_kit.monitoring.metrics import SCORE_BIN

if TYPE_CHECKING:
    import ibis.expr.types as ir

ESTIMATED_PREFIX: Final = "estimated_"
ESTIMATED_METRICS: Final = ("accuracy", "precision", "recall", "f1", "roc_auc")
"""The classification metrics estimated from the scores (all: higher is better)."""

CALIBRATION_BINS: Final = 10
MIN_CALIBRATION_ROWS: Final = 100
"""Fewer labelled scored predictions say too little about calibration to check it."""

_Z: Final = 1.959963984540054


def estimated_names() -> list[str]:
    """The names the spec judges estimates by (``estimated_accuracy`` and so on)."""
    return [ESTIMATED_PREFIX + name for name in ESTIMATED_METRICS]


def estimated_metric(name: str) -> str | None:
    """The metric that ``name`` estimates (``estimated_f1`` → ``f1``), ``None`` if none."""
    metric = name.removeprefix(ESTIMATED_PREFIX)
    return metric if metric != name and metric in ESTIMATED_METRICS else None


def _normal(value: float, variance: float) -> Estimate:
    half = _Z * math.sqrt(max(variance, 0.0))
    return Estimate(value, max(0.0, value - half), min(1.0, value + half))


def finish_estimates(row: Mapping[str, Any]) -> dict[str, Estimate]:
    """The estimated metrics of one row of :func:`~mlops_kit.monitoring.metrics.sliced_sums`.

    Returns:
        Estimates by metric name; empty when the slice has no scored prediction.
    """
    sums = Sums(row)
    n, said = sums["est_n"], sums["est_said"]
    if n <= 0:
        return {}
    tp = sums["est_tp"]  # expected positives among the predictions of the positive class
    fn = sums["est_pos"] - tp  # … among the others
    var_said = sums["est_var_said"]
    var_other = sums["est_var"] - var_said
    correct = tp + (n - said) - fn
    estimates = {"accuracy": _normal(correct / n, sums["est_var"] / n**2)}
    estimates["precision"] = _normal(tp / said, var_said / said**2) if said > 0 else Estimate(None)
    positives = tp + fn
    estimates["recall"] = (
        _normal(tp / positives, (fn**2 * var_said + tp**2 * var_other) / positives**4)
        if positives > 0
        else Estimate(None)
    )
    denominator = said + positives
    estimates["f1"] = (
        _normal(
            2 * tp / denominator,
            4 * ((said + fn) ** 2 * var_said + tp**2 * var_other) / denominator**4,
        )
        if denominator > 0
        else Estimate(None)
    )
    estimates["roc_auc"] = hanley_mcneil(
        sums["est_auc_num"], sums["est_auc_pos"], sums["est_auc_neg"]
    )
    return estimates


def calibration_bin(score: ir.NumericValue) -> ir.IntegerValue:
    """The calibration bin of a score, 0 to ``CALIBRATION_BINS - 1`` (NULL without a score)."""
    s = score.clip(lower=0.0, upper=1.0)
    # A score of exactly 1 belongs to the last bin, not to an eleventh.
    return (s * CALIBRATION_BINS).floor().cast("int64").clip(upper=CALIBRATION_BINS - 1)


def reliability_bins(live: ir.Table, positive: str) -> ir.Table:
    """Labelled scored predictions per score bin: rows, sum of scores, positives.

    Args:
        live: a :func:`~mlops_kit.monitoring.metrics.live_rows` relation (its features unused).
        positive: the positive class.

    Returns:
        Columns ``bin`` (0 to ``CALIBRATION_BINS - 1``), ``n``, ``score_sum``, ``positives``:
        the rows :func:`finish_calibration` reads.
    """
    t = live.filter(live._label.notnull(), live._score.notnull())
    t = t.mutate(
        _bin=calibration_bin(t._score),
        _s=t._score.clip(lower=0.0, upper=1.0),
        _pos=(t._label == positive).cast("int64"),
    )
    return t.group_by(bin=t._bin).aggregate(
        n=t.count(),
        score_sum=t._s.sum().cast("float64"),
        positives=t._pos.sum().cast("float64"),
    )


def binned_sums(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The :func:`reliability_bins` rows among the rows of a window's sliced sums.

    They are the rows of slice column :data:`~mlops_kit.monitoring.metrics.SCORE_BIN` of
    :func:`~mlops_kit.monitoring.metrics.sliced_sums` given :func:`calibration_bin`.
    """
    found = []
    for row in rows:
        if row["slice_column"] == SCORE_BIN:
            sums = Sums(row)
            found.append(
                {
                    "bin": int(row["slice_value"]),
                    "n": sums["scored"],
                    "score_sum": sums["label_score_sum"],
                    "positives": sums["actual_pos"],
                }
            )
    return found


@dataclass(frozen=True)
class ReliabilityBin:
    """One score bin of the labelled history."""

    lower: float
    upper: float
    count: int
    mean_score: float
    positive_share: Estimate
    """The share of positive labels, with its Wilson interval."""

    @property
    def off(self) -> bool:
        """Whether the mean score lies outside the interval of the share of positives."""
        low, high = self.positive_share.lower, self.positive_share.upper
        return low is not None and high is not None and not low <= self.mean_score <= high


@dataclass(frozen=True)
class Calibration:
    """How well the scores of the labelled history match the share of positives."""

    rows: int
    max_error: float
    ece: float | None = None
    bins: list[ReliabilityBin] = field(default_factory=list)

    @property
    def checked(self) -> bool:
        """Whether there were enough labelled scored predictions to check."""
        return self.ece is not None

    @property
    def holds(self) -> bool:
        """Whether the estimate's assumption holds (not checked counts as holding)."""
        return not self.checked or not (
            self.ece is not None and self.ece > self.max_error and any(b.off for b in self.bins)
        )

    def warning(self, model: str) -> str | None:
        """The line that says the assumption fails, naming the worst bins."""
        if self.holds or self.ece is None:
            return None
        worst = sorted(
            (b for b in self.bins if b.off),
            key=lambda b: -abs(b.mean_score - (b.positive_share.value or 0.0)),
        )
        shown = "; ".join(
            f"scores {b.lower:.1f}–{b.upper:.1f}: mean {b.mean_score:.2f}, "
            f"{b.positive_share.value:.2f} positive of {b.count}"
            for b in worst[:3]
        )
        return (
            f"the scores of {model} are not calibrated: expected calibration error "
            f"{self.ece:.3f} > {self.max_error:g} on {self.rows} labelled predictions ({shown}); "
            "the estimated metrics assume calibrated scores and may be wrong"
        )

    def to_dict(self, model: str) -> dict[str, Any]:
        """The calibration as JSON-able data."""
        return {
            "rows": self.rows,
            "ece": self.ece,
            "max_error": self.max_error,
            "checked": self.checked,
            "holds": self.holds,
            "warning": self.warning(model),
            "bins": [
                asdict(b) | {"positive_share": b.positive_share.to_dict(), "off": b.off}
                for b in self.bins
            ],
        }


def finish_calibration(rows: Sequence[Mapping[str, Any]], max_error: float) -> Calibration:
    """The calibration of the rows of :func:`reliability_bins`."""
    total = sum(int(row["n"]) for row in rows)
    if total < MIN_CALIBRATION_ROWS:
        return Calibration(total, max_error)
    bins = []
    ece = 0.0
    for row in sorted(rows, key=lambda r: int(r["bin"])):
        count = int(row["n"])
        mean = float(row["score_sum"]) / count
        share = wilson(float(row["positives"]), count)
        ece += count / total * abs(mean - (share.value or 0.0))
        index = int(row["bin"])
        bins.append(
            ReliabilityBin(
                index / CALIBRATION_BINS, (index + 1) / CALIBRATION_BINS, count, mean, share
            )
        )
    return Calibration(total, max_error, ece, bins)
