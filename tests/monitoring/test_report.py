"""Reports beyond the purchase story: regression, weekday slices, empty windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

END = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday


def test_regression_report_by_day_of_week(local_kit) -> None:
    from mlops_kit.monitoring import (
        PredictionLogger,
        WatchedModel,
        Window,
        build_report,
        log_ground_truth,
    )

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
        window=Window.last("7d", END),
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
    from mlops_kit.monitoring import PredictionLogger, WatchedModel, Window, build_report

    with PredictionLogger(local_kit, "demand", 1) as logger:
        logger.log("x", {"store": "s1"}, 3.0, timestamp=END - timedelta(days=30))
    report = build_report(local_kit, WatchedModel("demand", 1), window=Window.last("7d", END))
    assert report.logged == 0 and report.slices == []
    assert any("no ground truth logged yet" in note for note in report.notes)
    assert any("no predictions of demand@1 were logged" in note for note in report.notes)


def test_the_page_lists_drift_and_health_by_feature_flagging_the_broken(tmp_path) -> None:
    from mlops_kit.monitoring import MonitoringReport, WatchedModel, Window
    from mlops_kit.monitoring.html import write_html
    from mlops_kit.monitoring.violations import Violation

    drift = {
        "price": {"test": "psi+ks", "psi": 0.4, "ks": 0.3, "ks_pvalue": 0.001},
        "device": {"test": "js", "js": 0.02},
    }
    clean = {"kind": "float64", "null_rate": 0.0, "empty": False, "constant": False}
    clean |= {"nonconforming": 0, "nonconforming_rate": 0.0, "nonconforming_examples": []}
    clean |= {"out_of_range": 1, "out_of_range_rate": 0.1}
    broken = {"nonconforming": 7, "nonconforming_rate": 0.7, "nonconforming_examples": [("n/a", 7)]}
    health = {
        "price": clean,
        "device": clean | {"kind": "string", "null_rate": 1.0, "empty": True},
        "age": clean | broken,
    }
    report = MonitoringReport(
        WatchedModel("m", 1), "classification", Window.last("7d", END), 10, 0, [], {}, drift, health
    )
    page = tmp_path / "page.html"
    write_html(report, page, [Violation("drift", "psi", "price", 0.4, "max 0.2")])
    html = page.read_text()

    drift_table = html[html.index("<h2>Drift against") : html.index("<h2>Data health")]
    assert "<th>feature</th><th>test</th><th>psi</th><th>ks</th><th>ks p-value</th>" in drift_table
    assert "<tr><td>device</td><td>js</td><td></td><td></td><td></td><td>0.02</td></tr>" in (
        drift_table
    )
    assert '<tr class="flag"><td>price</td><td>psi+ks</td><td>0.4</td>' in drift_table
    assert drift_table.index("<td>device</td>") < drift_table.index("<td>price</td>")

    health_table = html[html.index("<h2>Data health") :]
    assert "<th>out of range</th><th>examples</th>" in health_table
    flagged = [row.split("</td>")[0] for row in health_table.split('<tr class="flag"><td>')[1:]]
    assert flagged == ["age", "device"]
    assert "<tr><td>price</td><td>float64</td><td>0</td>" in health_table
