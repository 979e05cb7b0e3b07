"""The purchase story (a model trained on a few hours of the day, served around the clock) and
the warehouse's sliced sums of a prediction log, run on DuckDB."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlops_kit.errors import ConfigError
from mlops_kit.kit import Kit
from mlops_kit.monitoring import (
    MonitoringReport,
    MonitoringSpec,
    WatchedModel,
    Window,
    build_report,
    metrics,
)
from mlops_kit.monitoring.metrics import SliceMetrics

END = datetime(2026, 11, 20, tzinfo=UTC)
DAY_HOURS = range(9, 18)
"""The training data covers 09:00-17:59 UTC only."""


def assembled_report(
    slices: list[SliceMetrics] | None = None,
    drift: dict[str, Any] | None = None,
    health: dict[str, Any] | None = None,
) -> MonitoringReport:
    """A report of ``m@2`` over the week to 2026-11-20, of 500 labelled predictions, put together
    from its parts (to test what judges a report without computing one)."""
    return MonitoringReport(
        WatchedModel("m", 2),
        "classification",
        Window.last("7d", datetime(2026, 11, 20, tzinfo=UTC)),
        500,
        500,
        slices or [],
        {},
        drift or {},
        health or {},
    )


def spec_driven_report(
    kit: Kit, model: WatchedModel, spec: MonitoringSpec, end: datetime
) -> MonitoringReport:
    """The report ``spec`` asks for on ``model`` (registered or not), over its window to ``end``."""
    return build_report(
        kit, model, slices=spec.slices, window=Window.last(spec.window, end), labels=spec.labels
    )


def spec_refusal(tmp_path: Path, text: str) -> str:
    """The one-line message that refuses a ``monitoring.yaml`` of ``text``."""
    path = tmp_path / "monitoring.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        MonitoringSpec.load(path)
    assert "\n" not in str(refused.value)
    return str(refused.value)


def duckdb_sliced_sums(
    prediction, score, label, group, task: str, slices: list[str]
) -> dict[tuple[str, str], dict]:
    """The warehouse's sliced sums of a prediction log, run on DuckDB, by (slice column, value).

    The log's slice column is ``group``; a label of ``None`` has not arrived yet.
    """
    live = pa.table(
        {
            "_logged_at": pa.array([END] * len(prediction), pa.timestamp("us", tz="UTC")),
            "_prediction": [str(p) for p in prediction],
            "_score": score,
            "_label": [None if y is None else str(y) for y in label],
            "group": group,
        }
    )
    con = duckdb.connect()
    con.register("live", live)
    relation = ibis.table(
        {
            "_logged_at": "timestamp('UTC')",
            "_prediction": "string",
            "_score": "float64",
            "_label": "string",
            "group": "string",
        },
        name="live",
    )
    sql = ibis.to_sql(metrics.sliced_sums(relation, slices, task, "1"), dialect="duckdb")
    return {
        (r["slice_column"], r["slice_value"]): r
        for r in con.execute(sql).to_arrow_table().to_pylist()
    }


def purchases(rng: np.random.Generator, stamps: list[datetime]) -> pd.DataFrame:
    """Shoppers at ``stamps``: by day cheap items sell, at night the dearer of mid-priced ones do.

    By day prices span 0 to 100 and whether an item sells fades from likely to unlikely around
    50 (a model of office hours learns scores near 0.5 there, and calibrated ones). At night the
    shoppers browse mid-priced items only, 46 to 54, where that model is unsure, and buy the
    dearer of them (with 5 % noise): so its scores for the night, calibrated by day, estimate a
    mediocre accuracy before any label arrives, and the labels show it is wrong.
    """
    n = len(stamps)
    draw = rng.uniform(0, 1, n)
    device = rng.choice(["mobile", "desktop"], n)
    day = np.array([stamp.hour in DAY_HOURS for stamp in stamps])
    price = np.where(day, 100 * draw, 46 + 8 * draw)
    chance = rng.random(n)
    by_day = chance < 1 / (1 + np.exp((price - 50) / 3))
    at_night = (price > 50) ^ (chance < 0.05)
    return pd.DataFrame(
        {
            "event_time": stamps,
            "price": price,
            "device": device,
            "purchased": np.where(day, by_day, at_night).astype(int),
        }
    )


@dataclass
class PurchaseStory:
    training_path: Path
    model: object
    logged: int


@pytest.fixture
def purchase_story(local_kit, tmp_path: Path) -> PurchaseStory:
    from sklearn.linear_model import LogisticRegression

    from mlops_kit.monitoring import PredictionLogger, log_ground_truth

    rng = np.random.default_rng(7)
    train_stamps = [
        END - timedelta(days=30) + timedelta(hours=int(h), minutes=int(m))
        for h, m in zip(rng.choice(list(DAY_HOURS), 3000), rng.integers(0, 60, 3000), strict=True)
    ]
    training = purchases(rng, train_stamps)
    training_path = tmp_path / "purchases-train.parquet"
    training.to_parquet(training_path)
    model = LogisticRegression().fit(training[["price"]], training["purchased"])

    live_stamps = [
        END - timedelta(days=2) + timedelta(minutes=int(m))
        for m in rng.integers(0, 2 * 24 * 60, 4800)
    ]
    live = purchases(rng, live_stamps)
    scores = model.predict_proba(live[["price"]])[:, 1]
    with PredictionLogger(local_kit, "purchase", 1, batch_size=2000) as logger:
        for i, row in enumerate(live.itertuples()):
            logger.log(
                f"req-{i}",
                {"price": row.price, "device": row.device},
                int(scores[i] >= 0.5),
                score=float(scores[i]),
                timestamp=row.event_time,
            )
    log_ground_truth(local_kit, {f"req-{i}": int(y) for i, y in enumerate(live["purchased"])})
    return PurchaseStory(training_path, model, len(live))


RECORDED: list[object] = []


def record_request(kit, request) -> str:
    RECORDED.append(request)
    return f"run-{len(RECORDED)}"


@pytest.fixture
def retraining_recorder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """A real entry point ``recorder`` in group ``mlops_kit.retraining`` (a dist-info on sys.path)."""
    dist = tmp_path / "site" / "recorder_hook-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: recorder-hook\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[mlops_kit.retraining]\nrecorder = tests.monitoring.conftest:record_request\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    RECORDED.clear()
    return RECORDED
