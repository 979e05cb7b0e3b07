"""Labels arrive late: each slice says how many predictions have ground truth yet, and waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from mlops_kit.errors import ConfigError
from tests.monitoring.conftest import spec_driven_report

END = datetime(2026, 11, 20, tzinfo=UTC)


def _serve(kit, n: int = 400) -> dict[str, tuple[str, int]]:
    """Predictions of two segments; returns request id → (segment, true label)."""
    from mlops_kit.monitoring import PredictionLogger

    rng = np.random.default_rng(12)
    served = {}
    with PredictionLogger(kit, "delayed", 1) as logger:
        for i in range(n):
            segment = "a" if i % 2 else "b"
            score = float(rng.random())
            logger.log(
                f"q{i}",
                {"segment": segment},
                int(score >= 0.5),
                score=score,
                timestamp=END - timedelta(hours=int(rng.integers(1, 48))),
            )
            # Segment a is predicted badly, segment b well.
            truth = int(score < 0.5) if segment == "a" else int(score >= 0.5)
            served[f"q{i}"] = (segment, truth)
    return served


def test_metrics_wait_for_their_labels_and_are_judged_once_they_arrive(local_kit) -> None:
    from mlops_kit.monitoring import (
        MonitoringSpec,
        WatchedModel,
        log_ground_truth,
        run_check,
    )

    served = _serve(local_kit)
    spec = MonitoringSpec.model_validate(
        {
            "slices": ["segment"],
            "min_samples": 20,
            "min_label_share": 0.5,
            "slice_thresholds": {"segment": {"accuracy": {"min": 0.9}}},
            "retraining": {"handler": None},
        }
    )
    # All of segment a's labels are in; a fifth of segment b's.
    b_ids = [rid for rid, (segment, _) in served.items() if segment == "b"]
    first = {rid: label for rid, (segment, label) in served.items() if segment == "a"}
    first |= {rid: served[rid][1] for rid in b_ids[: len(b_ids) // 5]}
    log_ground_truth(local_kit, first, timestamp=END - timedelta(minutes=30))

    def check():
        report = spec_driven_report(local_kit, WatchedModel("delayed", 1), spec, END)
        return report, run_check(local_kit, report, spec)

    report, result = check()
    segment = {part.value: part for part in report.slices if part.column == "segment"}
    assert (segment["a"].count, segment["a"].logged) == (200, 200)
    assert (segment["b"].count, segment["b"].logged) == (40, 200)
    assert segment["b"].label_share == pytest.approx(0.2)
    assert report.label_share == pytest.approx(240 / 400)
    assert any("240 of 400 predictions (60%) have ground truth yet" in n for n in report.notes)
    assert [v.subject for v in result.violations] == ["segment=a"]
    (pending,) = result.pending
    assert (pending.name, pending.subject, pending.labelled, pending.logged) == (
        "accuracy",
        "segment=b",
        40,
        200,
    )
    assert str(pending) == (
        "accuracy on segment=b waits for labels: 40 of 200 predictions labelled (20%), judged from "
        "50%"
    )
    assert result.status == "failed"
    data = report.to_dict()
    b = next(s for s in data["slices"] if s["value"] == "b")
    assert (b["pending"], b["labelled_share"], b["logged"]) == (True, pytest.approx(0.2), 200)
    assert result.to_dict()["pending"][0]["subject"] == "segment=b"

    # The rest of segment b's labels arrive: it is judged (and passes), nothing waits.
    log_ground_truth(local_kit, {rid: served[rid][1] for rid in b_ids})
    report, result = check()
    assert result.pending == [] and [v.subject for v in result.violations] == ["segment=a"]
    assert report.label_share == 1.0

    from sqlalchemy import select

    from mlops_kit.db.models.monitoring import MonitoringMeasurement

    with local_kit.metadata.session() as session:
        shares = dict(
            session.execute(
                select(MonitoringMeasurement.subject, MonitoringMeasurement.value).where(
                    MonitoringMeasurement.run_id == result.run_id,
                    MonitoringMeasurement.name == "labelled_share",
                )
            ).all()
        )
    assert shares == {"overall": 1.0, "segment=a": 1.0, "segment=b": 1.0}


def test_a_check_with_every_threshold_waiting_is_pending(local_kit) -> None:
    from mlops_kit.monitoring import MonitoringSpec, WatchedModel, run_check

    _serve(local_kit, 100)
    spec = MonitoringSpec.model_validate(
        {
            "slices": ["segment"],
            "min_samples": 1,
            "thresholds": {"accuracy": {"min": 0.99}},
            "retraining": {"handler": None},
        }
    )
    report = spec_driven_report(local_kit, WatchedModel("delayed", 1), spec, END)
    assert report.labelled == 0 and report.label_share == 0.0
    result = run_check(local_kit, report, spec)
    assert result.passed and result.status == "pending"
    assert [(p.subject, p.logged) for p in result.pending] == [("overall", 100)]
    assert result.to_dict()["status"] == "pending"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("min_label_share: 1.5\n", "min_label_share: Input should be less than or equal to 1"),
        ("min_label_share: -0.1\n", "min_label_share: Input should be greater than or equal"),
        ("min_label_share: lots\n", "min_label_share: Input should be a valid number"),
        ("max_calibration_error: 0\n", "max_calibration_error: Input should be greater than 0"),
        ("thresholds:\n  estimated_logloss: {min: 1}\n", "unknown classification metric"),
        (
            "task: regression\nthresholds:\n  estimated_accuracy: {min: 1}\n",
            "unknown regression metric 'estimated_accuracy'",
        ),
    ],
)
def test_invalid_label_settings_name_the_field(tmp_path, text: str, message: str) -> None:
    from mlops_kit.monitoring import MonitoringSpec

    path = tmp_path / "monitoring.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        MonitoringSpec.load(path)


def test_label_settings_given_in_code_are_checked_too() -> None:
    from mlops_kit.monitoring.spec import Labels

    with pytest.raises(ConfigError, match="invalid label settings"):
        Labels(min_share=2.0)
