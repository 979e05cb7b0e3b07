"""Spec validation and the judging rules of ``monitor check``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlops_kit.errors import NotFoundError
from mlops_kit.monitoring import MonitoringSpec, evaluate
from mlops_kit.monitoring.metric_table import Estimate
from mlops_kit.monitoring.metrics import SliceMetrics
from tests.monitoring.conftest import assembled_report, spec_refusal


def test_thresholds_baseline_drops_and_minimum_samples() -> None:
    spec = MonitoringSpec.model_validate(
        {
            "slices": ["hour_of_day"],
            "min_samples": 100,
            "thresholds": {"roc_auc": {"max_drop": 0.05}, "log_loss": {"max_drop": 0.1}},
            "slice_thresholds": {"hour_of_day": {"accuracy": {"min": 0.8}}},
            "drift": {"psi": {"max": 0.2}},
            "health": {"null_rate": {"max": 0.1}},
        }
    )
    report = assembled_report(
        slices=[
            SliceMetrics(
                "overall",
                "all",
                500,
                {"roc_auc": Estimate(0.80), "log_loss": Estimate(0.65)},
                {"roc_auc": 0.90, "log_loss": 0.50},
                logged=500,
            ),
            SliceMetrics("hour_of_day", "3", 150, {"accuracy": Estimate(0.5)}, logged=150),
            # too few to judge
            SliceMetrics("hour_of_day", "4", 99, {"accuracy": Estimate(0.1)}, logged=99),
            SliceMetrics("hour_of_day", "5", 150, {"accuracy": Estimate(0.85)}, logged=150),
        ],
        drift={"price": {"psi": 0.3}, "device": {"js": 0.9}},
        health={"price": {"null_rate": 0.5, "nonconforming_rate": 0.0, "out_of_range_rate": 0.0}},
    )
    found = {(v.kind, v.name, v.subject): v for v in evaluate(report, spec)}
    assert set(found) == {
        ("metrics", "roc_auc", "overall"),
        ("metrics", "log_loss", "overall"),  # lower is better: a rise is the drop
        ("metrics", "accuracy", "hour_of_day=3"),
        ("drift", "psi", "price"),
        ("health", "null_rate", "price"),
    }
    assert found[("metrics", "roc_auc", "overall")].bound == "max_drop 0.05 from baseline 0.9"
    assert str(found[("metrics", "accuracy", "hour_of_day=3")]) == (
        "accuracy 0.5 breaks min 0.8 on hour_of_day=3"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("thresholds:\n  acc: {min: 1}\n", "unknown classification metric 'acc'"),
        ("task: regression\nthresholds:\n  accuracy: {min: 1}\n", "unknown regression metric"),
        ("thresholds:\n  accuracy: {}\n", "give at least one of min, max, max_drop"),
        ("window: 7 days\n", "invalid window"),
        ("slice_thresholds:\n  country:\n    accuracy: {min: 1}\n", "not in 'slices'"),
        ("drift:\n  wasserstein: {max: 1}\n", "unknown drift measure"),
        ("surprise: 1\n", "surprise"),
        ("thresholds: [\n", "not valid YAML"),
        ("thresholds:\n  accuracy: {min: 0.9, max: 0.8}\n", "min 0.9 is above max 0.8"),
        ("thresholds:\n  accuracy: {min: .nan}\n", "thresholds.accuracy.min: Input should be"),
        ("drift:\n  psi: {max: .inf}\n", "drift.psi.max: Input should be a finite number"),
        (
            "retraining: {handler: pipline}\n",
            "no retraining handler 'pipline' .* \\(installed: pipeline\\)",
        ),
    ],
)
def test_invalid_specs_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    assert re.search(message, spec_refusal(tmp_path, text))


def test_missing_spec_and_missing_handler(tmp_path: Path, local_kit) -> None:
    from mlops_kit.monitoring.retraining import RetrainingRequest, request_retraining

    with pytest.raises(NotFoundError, match="not found"):
        MonitoringSpec.load(tmp_path / "absent.yaml")
    with pytest.raises(NotFoundError, match="no retraining handler 'nope'"):
        request_retraining(local_kit, RetrainingRequest("m", 1, ["x"]), "nope")


def test_check_runs_are_stored_on_each_metadata_database(metadata_url: str, project_dir) -> None:
    from sqlalchemy import select

    from mlops_kit.db import METADATA_DATABASES, migrate
    from mlops_kit.db.models.monitoring import MonitoringMeasurement, MonitoringRun
    from mlops_kit.kit import Kit
    from mlops_kit.monitoring import run_check

    migrate.upgrade(METADATA_DATABASES.open(metadata_url))
    spec = MonitoringSpec.model_validate(
        {"thresholds": {"accuracy": {"min": 0.9}}, "retraining": {"handler": "absent"}}
    )
    report = assembled_report(
        slices=[
            SliceMetrics("overall", "all", 500, {"accuracy": Estimate(0.7, 0.66, 0.74)}, logged=500)
        ]
    )
    with Kit.open(metadata=metadata_url) as kit:
        result = run_check(kit, report, spec)
        assert not result.passed
        # A missing handler does not lose the run: its failure is recorded on it.
        assert result.retraining_result.startswith("failed: no retraining handler 'absent'")
        with kit.metadata.session() as session:
            run = session.get(MonitoringRun, result.run_id)
            assert run.retraining_result == result.retraining_result
            share, measurement = session.scalars(
                select(MonitoringMeasurement)
                .where(MonitoringMeasurement.run_id == run.id)
                .order_by(MonitoringMeasurement.id)
            ).all()
            assert (share.kind, share.name, share.value, share.count) == (
                "coverage",
                "labelled_share",
                1.0,
                500,
            )
            assert (measurement.name, measurement.value, measurement.lower) == (
                "accuracy",
                0.7,
                0.66,
            )
            assert measurement.violated


def test_a_long_slice_value_is_stored_cut_to_the_subject_column(
    metadata_url: str, project_dir
) -> None:
    from sqlalchemy import select

    from mlops_kit.db import METADATA_DATABASES, migrate
    from mlops_kit.db.models.monitoring import MonitoringMeasurement
    from mlops_kit.kit import Kit
    from mlops_kit.monitoring import run_check

    migrate.upgrade(METADATA_DATABASES.open(metadata_url))
    spec = MonitoringSpec.model_validate(
        {"thresholds": {"accuracy": {"min": 0.5}}, "retraining": {"handler": "absent"}}
    )
    value = "v" * 300
    report = assembled_report(
        slices=[
            SliceMetrics("city", value, 500, {"accuracy": Estimate(0.9, 0.86, 0.94)}, logged=500)
        ]
    )
    with Kit.open(metadata=metadata_url) as kit:
        result = run_check(kit, report, spec)
        assert result.passed
        with kit.metadata.session() as session:
            subjects = session.scalars(
                select(MonitoringMeasurement.subject).where(
                    MonitoringMeasurement.run_id == result.run_id
                )
            ).all()
    assert subjects and all(len(s) == 200 and s.startswith("city=vvv") for s in subjects)
