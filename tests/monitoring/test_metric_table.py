"""The table of metrics is the one place a metric is declared: a metric added there is everywhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlops_kit.monitoring import MonitoringSpec, evaluate
from mlops_kit.monitoring.check import unjudged
from mlops_kit.monitoring.html import legend
from mlops_kit.monitoring.metric_table import (
    METRICS,
    Estimate,
    Metric,
    Reference,
    finish_metrics,
    wilson,
)
from mlops_kit.monitoring.metrics import SliceMetrics
from mlops_kit.pipelines.evaluation import classification_metrics
from mlops_kit.pipelines.promotion import decide
from tests.monitoring.conftest import assembled_report

README = Path(__file__).parents[2] / "README.md"

ERROR_RATE = Metric(
    "error_rate",
    "classification",
    lambda sums: wilson(sums["n"] - sums["correct"], sums["n"]),
    "Wilson",
    "lower",
    Reference("zero_one_loss"),
)


@pytest.fixture
def error_rate(monkeypatch: pytest.MonkeyPatch) -> Metric:
    monkeypatch.setitem(METRICS, ERROR_RATE.name, ERROR_RATE)
    return ERROR_RATE


def test_a_metric_added_to_the_table_is_computed_judged_gated_and_explained(
    error_rate: Metric,
) -> None:
    # The warehouse's sums give it, with the table's interval.
    count, metrics = finish_metrics({"n": 200, "correct": 150}, "classification")
    assert count == 200 and metrics["error_rate"].value == pytest.approx(0.25)
    assert metrics["error_rate"].lower is not None

    # The pipelines' evaluation computes the registry baseline with its reference implementation.
    baseline = classification_metrics([1, 0, 1, 1], [1, 1, 1, 0], [0.9, 0.6, 0.8, 0.4])
    assert baseline["error_rate"] == pytest.approx(0.5)

    # The spec accepts it; lower is better, so a rise from the baseline is a drop.
    spec = MonitoringSpec.model_validate({"thresholds": {"error_rate": {"max_drop": 0.05}}})
    risen = SliceMetrics(
        "overall", "all", 500, {"error_rate": Estimate(0.3)}, {"error_rate": 0.2}, logged=500
    )
    (violation,) = evaluate(assembled_report([risen]), spec)
    assert violation.name == "error_rate" and "max_drop 0.05 from baseline 0.2" in violation.bound

    # The promotion gate promotes the candidate whose error rate is lower.
    gate = decide(
        "m@3",
        {"overall": {"error_rate": 0.1}},
        "m@2",
        {"overall": {"error_rate": 0.2}},
        ["error_rate"],
    )
    assert gate.promoted, gate.reasons

    # The HTML page's legend names its interval.
    assert "Wilson (accuracy, precision, recall, error_rate)" in legend("classification")


def test_a_max_drop_the_baseline_cannot_judge_is_a_warning() -> None:
    spec = MonitoringSpec.model_validate(
        {"thresholds": {"roc_auc": {"max_drop": 0.05}, "accuracy": {"max_drop": 0.05}}}
    )
    overall = SliceMetrics(
        "overall",
        "all",
        500,
        {"roc_auc": Estimate(0.5), "accuracy": Estimate(0.8)},
        {"accuracy": 0.8},
        logged=500,
    )
    assert evaluate(assembled_report([overall]), spec) == []
    (warning,) = unjudged(assembled_report([overall]), spec)
    assert warning.startswith("max_drop of roc_auc not checked on overall: the registry baseline")


def test_the_readme_table_of_metrics_is_the_code_table() -> None:
    rows = re.findall(
        r"^  \| `(\w+)` \| (\w+) \| ([^|]+) \| (\w+) \| `([\w.]+)` \|$",
        README.read_text(encoding="utf-8"),
        flags=re.M,
    )
    assert rows == [
        (m.name, m.task, m.interval, m.direction, str(m.reference)) for m in METRICS.values()
    ]


def test_every_reference_implementation_exists() -> None:
    from sklearn import metrics

    for metric in METRICS.values():
        assert callable(getattr(metrics, metric.reference.function)), metric.name
