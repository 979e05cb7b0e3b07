"""Reports beyond the purchase story: regression, weekday slices, empty windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

END = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday


def test_regression_report_by_day_of_week(local_kit) -> None:
    from mlops_kit.monitoring import PredictionLogger, WatchedModel, build_report, log_ground_truth

    rng = np.random.default_rng(5)
    errors: dict[int, list[float]] = {}
    labels = {}
    with PredictionLogger(local_kit, "demand", 2) as logger:
        for i in range(1400):
            at = END - timedelta(days=7) + timedelta(minutes=int(rng.integers(0, 7 * 24 * 60)))
            actual = float(rng.normal(100, 10))
            # Weekends (Saturday = 5, Sunday = 6) are predicted badly.
            noise = 20.0 if at.weekday() >= 5 else 2.0
            predicted = actual + float(rng.choice([-1, 1])) * noise
            logger.log(f"d{i}", {"store": f"s{i % 3}"}, round(predicted, 6), timestamp=at)
            labels[f"d{i}"] = round(actual, 6)
            errors.setdefault(at.weekday(), []).append(abs(predicted - actual))
    log_ground_truth(local_kit, labels)
    report = build_report(
        local_kit,
        WatchedModel("demand", 2),
        slices=["day_of_week", "store"],
        task="regression",
        end=END,
    )
    by_day = {s.value: s for s in report.slices if s.column == "day_of_week"}
    assert sorted(by_day) == [str(d) for d in range(7)]
    for day, values in errors.items():
        assert by_day[str(day)].metrics["mae"].value == pytest.approx(np.mean(values), rel=1e-6)
        assert by_day[str(day)].count == len(values)
    assert by_day["6"].metrics["rmse"].value == pytest.approx(20.0, rel=1e-6)
    assert {s.value for s in report.slices if s.column == "store"} == {"s0", "s1", "s2"}
    assert any("no training data" in note for note in report.notes)


def test_an_empty_window_is_a_note_not_an_error(local_kit) -> None:
    from mlops_kit.monitoring import PredictionLogger, WatchedModel, build_report

    with PredictionLogger(local_kit, "demand", 1) as logger:
        logger.log("x", {"store": "s1"}, 3.0, timestamp=END - timedelta(days=30))
    report = build_report(local_kit, WatchedModel("demand", 1), end=END)
    assert report.logged == 0 and report.slices == []
    assert any("no ground truth logged yet" in note for note in report.notes)
    assert any("no predictions of demand@1 were logged" in note for note in report.notes)
