"""A violated slice carries what else is known about it: training rows, its inputs' health."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from tests.monitoring.conftest import END


def test_a_violated_slice_names_its_broken_input_and_its_training_rows(
    local_kit, tmp_path: Path
) -> None:
    from mlops_kit.monitoring import (
        MonitoringSpec,
        PredictionLogger,
        WatchedModel,
        Window,
        build_report,
        log_ground_truth,
        run_check,
    )
    from mlops_kit.monitoring.diagnosis import report_findings

    rng = np.random.default_rng(2)
    training = pd.DataFrame(
        {
            "price": rng.uniform(0, 100, 2000),
            "device": rng.choice(["mobile", "desktop"], 2000),
            "purchased": rng.integers(0, 2, 2000),
        }
    )
    path = tmp_path / "training.parquet"
    training.to_parquet(path)
    labels = {}
    with PredictionLogger(local_kit, "shop", 1) as logger:
        for i in range(1200):
            device = "desktop" if i % 2 else "mobile"
            # The desktop source lost most prices, and the model guesses wrong without them.
            price = None if device == "desktop" and i % 10 != 1 else float(rng.uniform(0, 100))
            truth = int(rng.integers(0, 2))
            said = 1 - truth if price is None else truth
            at = END - timedelta(minutes=int(rng.integers(1, 24 * 60)))
            logger.log(f"s{i}", {"price": price, "device": device}, said, 0.5, at)
            labels[f"s{i}"] = truth
    log_ground_truth(local_kit, labels)
    spec = MonitoringSpec.model_validate(
        {
            "slices": ["device"],
            "slice_thresholds": {"device": {"accuracy": {"min": 0.8}}},
            "retraining": {"handler": None},
        }
    )
    model = WatchedModel("shop", 1, training_data=["shop@1"], training_location=str(path))
    report = build_report(
        local_kit, model, slices=spec.slices, window=Window.last("7d", END), labels=spec.labels
    )
    result = run_check(local_kit, report, spec)
    (violation,) = result.violations
    assert violation.subject == "device=desktop"
    training_rows = int((training["device"] == "desktop").sum())
    assert violation.evidence[0].startswith(f"{training_rows} training rows at device=desktop (")
    window = report.health["price"]["null_rate"]
    assert violation.evidence[1] == (
        f"price is 80% null at device=desktop ({window:.0%} in the whole window)"
    )
    # The slice's own column is not "drift": a slice of its values always differs from all.
    assert len(violation.evidence) == 2
    assert result.to_dict()["violations"][0]["evidence"] == list(violation.evidence)
    first = report_findings(report, result.violations)[0]
    assert "price is 80% null at device=desktop" in first.statement
    assert first.cause == (
        "the inputs at these values of device differ from the training data: look at the "
        "source of price"
    )
    assert report.to_dict()["slice_inputs"]["device"]["values"] == ["desktop"]
