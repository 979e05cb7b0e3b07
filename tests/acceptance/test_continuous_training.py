"""Acceptance, the purchase story end to end on the local twin.

A purchase model trained on a few hours of the day is served around the clock: the project's
monitoring check names the hours where its accuracy collapses and the training data's coverage
by hour, and asks for retraining; the project's training pipeline runs on a new, full-day data
version, and the gate promotes the new version because it is better on those hours. The next
check passes.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.monitoring.conftest import DAY_HOURS, END, purchases

pytestmark = [pytest.mark.pipelines, pytest.mark.slow]

NIGHT = [hour for hour in range(24) if hour not in DAY_HOURS]
FEATURES = ["hour_of_day", "price", "device"]


def shop_extract(rng: np.random.Generator, stamps: list[datetime]) -> pd.DataFrame:
    """Purchase events as the shop exports them: who, when, at what price, bought or not."""
    events = purchases(rng, stamps)
    return pd.DataFrame(
        {
            "customer_id": [f"u{i:05d}" for i in range(len(events))],
            "event_time": events["event_time"],
            "hour_of_day": events["event_time"].dt.hour,
            "price": events["price"].round(2),
            "device": events["device"],
            "purchased": events["purchased"],
        }
    )


def serve(  # type: ignore[no-untyped-def]
    kit,
    model_ref: str,
    rng: np.random.Generator,
    requests: int,
    end: datetime = END,
    label: bool = True,
) -> list[tuple[datetime, str, int]]:
    """Serve ``model_ref`` over the two days before ``end``: log its predictions, then the outcomes.

    Returns:
        Each request's time, id and outcome; ``label=False`` leaves the outcomes for later.
    """
    from mlops_kit import models
    from mlops_kit.monitoring import PredictionLogger, log_ground_truth
    from mlops_kit.pipelines.evaluation import load_classifier

    version = models.get_version(kit, model_ref)
    model = load_classifier(kit, version.ref)
    stamps = [
        end - timedelta(days=2) + timedelta(minutes=int(m))
        for m in rng.integers(0, 2 * 24 * 60, requests)
    ]
    events = shop_extract(rng, stamps)
    scores = model.predict_proba(events[FEATURES])[:, 1]
    ids = [f"{version.name}-{version.version}-{i}" for i in range(requests)]
    with PredictionLogger(kit, version.name, version.version, batch_size=requests) as logger:
        for i, row in enumerate(events[FEATURES].to_dict(orient="records")):
            logger.log(ids[i], row, int(scores[i] > 0.5), float(scores[i]), stamps[i])
    outcomes = list(zip(stamps, ids, events["purchased"].tolist(), strict=True))
    if label:
        log_ground_truth(kit, [(request, outcome) for _, request, outcome in outcomes])
    return outcomes


def start_purchase_project(  # type: ignore[no-untyped-def]
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli, rng: np.random.Generator
) -> Path:
    """The purchase project, its first extract (office hours only) trained into the champion.

    Returns:
        The extract's path (the project's training source), with the project as working directory.
    """
    monkeypatch.chdir(tmp_path)
    created = run_cli(
        "new",
        "purchase-model",
        *("--data", "description=Predicts which visitors buy."),
        *("--data", "dataset=purchases", "--data", "model_name=purchase"),
        *("--data", "target=purchased", "--data", "positive_label=1"),
        *("--data", "slices=hour_of_day,device", "--data", "gate_metrics=accuracy,roc_auc"),
    )
    assert created.exit_code == 0, created.stderr
    project = tmp_path / "purchase-model"
    monkeypatch.chdir(project)
    source = project / "data" / "purchases.csv"
    source.parent.mkdir()

    # The first extract holds office hours only: v1 learns that cheap items sell.
    office_hours = [
        END - timedelta(days=30) + timedelta(hours=int(h), minutes=int(m))
        for h, m in zip(rng.choice(DAY_HOURS, 2400), rng.integers(0, 60, 2400), strict=True)
    ]
    shop_extract(rng, office_hours).to_csv(source, index=False)
    first = run_cli("pipeline", "run")
    assert first.exit_code == 0, first.stderr
    assert "champion       purchase@1" in first.stdout
    return source


def whole_day_extract(rng: np.random.Generator) -> pd.DataFrame:
    """The shop's extract once it covers the whole day."""
    whole_days = [
        END - timedelta(days=30) + timedelta(minutes=int(m))
        for m in rng.integers(0, 28 * 24 * 60, 4800)
    ]
    return shop_extract(rng, whole_days)


def test_monitoring_finds_the_hours_retraining_fixes_them_and_the_gate_says_why(  # type: ignore[no-untyped-def]
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli
) -> None:
    from sqlalchemy import select

    from mlops_kit import data, models
    from mlops_kit.db.models.monitoring import MonitoringMeasurement, MonitoringRun
    from mlops_kit.kit import Kit

    rng = np.random.default_rng(11)
    source = start_purchase_project(tmp_path, monkeypatch, run_cli, rng)

    with Kit.open() as kit:
        serve(kit, "purchase@champion", rng, 4800)

    # The shop's extract now covers the whole day; the next training run will snapshot it.
    whole_day_extract(rng).to_csv(source, index=False)

    end = END.isoformat()
    check = run_cli("monitor", "check", "--end", end)

    assert check.exit_code == 1, check.stderr
    collapsed = re.findall(
        r"violation: accuracy \S+ breaks min 0\.5 on hour_of_day=(\d+)", check.stdout
    )
    assert sorted(map(int, collapsed)) == NIGHT
    assert re.search(r"violation: psi \S+ breaks max 0\.25 on hour_of_day\b", check.stdout)
    with Kit.open() as kit:
        with kit.metadata.session() as session:
            run = session.scalars(select(MonitoringRun).order_by(MonitoringRun.id)).one()
            assert (run.model_name, run.model_version, run.passed) == ("purchase", 1, False)
            coverage = dict(
                session.execute(
                    select(MonitoringMeasurement.subject, MonitoringMeasurement.count).where(
                        MonitoringMeasurement.run_id == run.id,
                        MonitoringMeasurement.name == "training_share",
                        MonitoringMeasurement.subject.startswith("hour_of_day="),
                    )
                ).all()
            )
            retrained = run.retraining_result
        assert {hour: coverage[f"hour_of_day={hour}"] for hour in NIGHT} == dict.fromkeys(NIGHT, 0)
        assert all(coverage[f"hour_of_day={hour}"] > 0 for hour in DAY_HOURS), sorted(
            coverage.items()
        )
        assert run.retraining_handler == "pipeline"
        assert retrained is not None
        assert re.match(r"purchase-training-\S+: purchase@2 promoted to champion: ", retrained)

        # The pipeline trained v2 on a new data version that covers every hour.
        champion = models.get_version(kit, "purchase@champion")
        assert (champion.ref, champion.datasets) == ("purchase@2", ["purchases@2"])
        retraining_data = data.load(kit, "purchases@2", as_="pandas")
        assert sorted(retraining_data["hour_of_day"].unique()) == list(range(24))

        # Each on its own held-out rows, v1 looks the better model: it was tested on office hours
        # only. The gate scored both on the same rows and promoted v2 for the hours it fixes.
        assert (
            models.get_version(kit, "purchase@1").metrics["accuracy"]
            > (champion.metrics["accuracy"])
        )
        promotion = models.history(kit, "purchase", "champion")[-1]
        assert (promotion.from_version, promotion.to_version) == (1, 2)
        reasons = promotion.reason.split("; ")
        assert re.fullmatch(
            r"accuracy improves on purchase@1 by 0\.\d+ \(0\.9\d+ against 0\.[0-5]\d+\)", reasons[0]
        )
        assert reasons[1].startswith(f"accuracy better on {len(NIGHT)} of 24 values of hour_of_day")
        better = re.findall(r"hour_of_day=(\d+) ([\d.]+) against ([\d.]+)", reasons[1])
        assert [int(hour) for hour, _, _ in better] == NIGHT
        # At night v1 does no better than a coin flip; v2 gets most of them right.
        assert all(float(new) > 0.8 > 0.5 > float(old) for _, new, old in better)
        assert "both scored on the 960 held-out rows of purchases@2" in reasons
        # The template's gate also searched v2's held-out rows for its weak slices.
        assert any(
            reason.startswith(("weak slices of purchase@2 ", "no weak slice of purchase@2 "))
            for reason in reasons
        ), reasons
        assert promotion.reason in retrained

        serve(kit, "purchase@champion", rng, 4800)

    second = run_cli("monitor", "check", "--end", end)

    assert second.exit_code == 0, second.stdout[-2000:] + second.stderr
    assert "violation" not in second.stdout
    assert re.search(r"check run \d+: passed", second.stdout)
    with Kit.open() as kit:
        assert [v.ref for v in models.list_versions(kit, "purchase")] == [
            "purchase@2",
            "purchase@1",
        ]
