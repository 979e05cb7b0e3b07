"""Acceptance: sliced monitoring by hour finds where a model trained on daytime data collapses."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.monitoring.conftest import DAY_HOURS, END

NIGHT = [h for h in range(24) if h not in DAY_HOURS]


def test_report_singles_out_the_night_hours_and_shows_training_coverage(
    local_kit, purchase_story
) -> None:
    from mlops_kit.monitoring import WatchedModel, Window, build_report
    from mlops_kit.monitoring.diagnosis import report_findings

    model = WatchedModel(
        "purchase",
        1,
        baseline={"overall": {"accuracy": 0.95}},
        training_data=["purchases@1"],
        training_location=str(purchase_story.training_path),
    )
    report = build_report(
        local_kit, model, slices=["hour_of_day", "device"], window=Window.last("7d", END)
    )
    assert report.logged == report.labelled == purchase_story.logged
    by_hour = {s.value: s for s in report.slices if s.column == "hour_of_day"}
    assert len(by_hour) == 24
    for hour in DAY_HOURS:
        assert by_hour[str(hour)].metrics["accuracy"].value > 0.85
    for hour in NIGHT:
        accuracy = by_hour[str(hour)].metrics["accuracy"]
        assert accuracy.value < 0.3
        assert accuracy.lower < accuracy.value < accuracy.upper
    overall = report.slices[0]
    assert overall.column == "overall" and overall.baseline == {"accuracy": 0.95}
    coverage = {entry["value"]: entry for entry in report.coverage["hour_of_day"]}
    assert all(coverage[str(h)]["training"] == 0 for h in NIGHT)
    assert sum(coverage[str(h)]["training_share"] for h in DAY_HOURS) == pytest.approx(1.0)
    assert all(coverage[str(h)]["live_share"] > 0.02 for h in range(24))
    # Drift and health of the logged features against the training data.
    assert set(report.drift) == {"device", "price"}
    # The night shoppers browse mid-priced items only: the prices drift, the devices do not.
    assert report.drift["price"]["psi"] > 0.25 and report.drift["device"]["js"] < 0.1
    assert report.health["price"]["null_rate"] == 0.0
    assert report.health["price"]["out_of_range_rate"] < 0.01
    # The first finding names the night hours, held to the overall baseline, and that the
    # training data has no rows there.
    first = report_findings(report)[0]
    assert str(first.severity) == "warning"
    assert first.evidence["slices"] == [
        f"hour_of_day={h}"
        for h in sorted(NIGHT, key=lambda h: by_hour[str(h)].metrics["accuracy"].value)
    ]
    assert first.statement.startswith(
        f"accuracy below its baseline beyond the 95 % interval on {len(NIGHT)} of 24 values of hour_of_day"
    )
    assert "every one of them has 0 training rows in purchases@1" in first.statement
    assert first.cause and "no rows at these values of hour_of_day" in first.cause


def test_check_flags_the_night_hours_stores_the_run_and_asks_for_retraining(
    local_kit, purchase_story, retraining_recorder
) -> None:
    from sqlalchemy import select

    from mlops_kit.db.models.monitoring import MonitoringMeasurement, MonitoringRun
    from mlops_kit.monitoring import MonitoringSpec, WatchedModel, Window, build_report, run_check
    from mlops_kit.monitoring.diagnosis import report_findings

    spec = MonitoringSpec.model_validate(
        {
            "slices": ["hour_of_day"],
            "min_samples": 50,
            "slice_thresholds": {"hour_of_day": {"accuracy": {"min": 0.7}}},
            "retraining": {"handler": "recorder"},
        }
    )
    model = WatchedModel("purchase", 1, training_location=str(purchase_story.training_path))
    report = build_report(local_kit, model, slices=spec.slices, window=Window.last("7d", END))
    result = run_check(local_kit, report, spec)
    assert not result.passed
    assert sorted(int(v.subject.split("=")[1]) for v in result.violations) == NIGHT
    assert result.retraining_handler == "recorder"
    assert result.retraining_result == "run-1"
    (request,) = retraining_recorder
    assert request.model_name == "purchase" and request.check_run_id == result.run_id
    assert any("hour_of_day=3" in reason for reason in request.reasons)
    # The violations lead the findings as one, with the hours' missing training rows beside them.
    first = report_findings(report, result.violations)[0]
    assert str(first.severity) == "broken"
    assert first.statement.startswith(f"accuracy breaks min 0.7 on {len(NIGHT)} of 24 values")
    assert "every one of them has 0 training rows in the training data" in first.statement
    assert sorted(first.evidence["slices"]) == sorted(f"hour_of_day={h}" for h in NIGHT)
    with local_kit.metadata.session() as session:
        run = session.get(MonitoringRun, result.run_id)
        assert run is not None and not run.passed and run.violation_count == len(NIGHT)
        assert run.retraining_result == "run-1"
        flagged = session.scalars(
            select(MonitoringMeasurement.subject).where(
                MonitoringMeasurement.run_id == run.id, MonitoringMeasurement.violated
            )
        ).all()
        assert sorted(flagged) == sorted(f"hour_of_day={h}" for h in NIGHT)


def test_health_names_text_in_a_numeric_feature_and_empty_columns(
    local_kit, purchase_story
) -> None:
    from mlops_kit.monitoring import PredictionLogger, WatchedModel, Window, build_report

    with PredictionLogger(local_kit, "purchase", 1) as logger:
        for i in range(30):
            at = END - timedelta(hours=1)
            logger.log(f"bad-{i}", {"price": "n/a", "device": None, "coupon": None}, 0, 0.1, at)
    model = WatchedModel("purchase", 1, training_location=str(purchase_story.training_path))
    report = build_report(local_kit, model, window=Window.last("7d", END))
    price = report.health["price"]
    assert price["nonconforming"] == 30
    assert price["nonconforming_examples"] == [["n/a", 30]]
    assert price["null_rate"] == pytest.approx(30 / report.logged)
    assert report.health["coupon"]["empty"] is True
    assert report.health["device"]["nonconforming"] == 0
    assert "coupon" not in report.drift  # not in the training data


def test_training_coverage_from_an_hour_column_matches_the_live_hours(
    local_kit, purchase_story, tmp_path
) -> None:
    """Training data may carry the hour as a number instead of a timestamp."""
    import pandas as pd

    from mlops_kit.monitoring import WatchedModel, Window, build_report

    training = pd.read_parquet(purchase_story.training_path)
    training["hour_of_day"] = training.pop("event_time").dt.hour
    path = tmp_path / "purchases-by-hour.parquet"
    training.to_parquet(path)
    model = WatchedModel("purchase", 1, training_data=["purchases@1"], training_location=str(path))
    report = build_report(local_kit, model, slices=["hour_of_day"], window=Window.last("7d", END))
    coverage = {entry["value"]: entry for entry in report.coverage["hour_of_day"]}
    assert len(coverage) == 24
    assert all(coverage[str(h)]["training"] == 0 for h in NIGHT)
    assert sum(coverage[str(h)]["training"] for h in DAY_HOURS) == len(training)
