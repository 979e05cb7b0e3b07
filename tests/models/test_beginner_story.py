"""The seed's second incident, replayed on the local twin.

A behaviour classifier labelled every customer "beginner"; rolling back to the previous version was
also wrong. Both versions are fed by a source whose advanced-feature columns are empty for most users.
Comparing the two versions on the live data must point at that source, not at the models.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_kit import data as datasets
from mlops_kit import models
from mlops_kit.errors import ConfigError

ADVANCED = ["api_calls", "custom_reports", "automations"]
BASIC = ["sessions_per_week", "days_active"]
SEGMENTS = np.array(["beginner", "intermediate", "advanced"])


def activity(rows: int, seed: int, broken_share: float) -> pd.DataFrame:
    """Customer activity; ``broken_share`` of rows lose their advanced features (the bad source)."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(3, size=rows, p=[0.55, 0.25, 0.2])
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(rows),
            "sessions_per_week": rng.poisson(3 + segment * 0.2),
            "days_active": rng.integers(1, 30, rows),
            "api_calls": rng.poisson(segment * 40).astype(float),
            "custom_reports": rng.poisson(segment * 3).astype(float),
            "automations": rng.poisson(segment * 2).astype(float),
            "segment": SEGMENTS[segment],
        }
    )
    lost = rng.random(rows) < broken_share
    frame.loc[lost, ADVANCED] = np.nan
    return frame


def train(frame: pd.DataFrame, directory: Path, depth: int) -> dict[str, Any]:
    """The team's training step: impute missing values with 0, fit, evaluate on a held-out part."""
    import joblib
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.tree import DecisionTreeClassifier

    features = BASIC + ADVANCED
    train_part, test_part = frame.iloc[: len(frame) * 3 // 4], frame.iloc[len(frame) * 3 // 4 :]
    model = make_pipeline(
        SimpleImputer(strategy="constant", fill_value=0),
        DecisionTreeClassifier(max_depth=depth, min_samples_leaf=40, random_state=0),
    ).fit(train_part[features], train_part["segment"])
    directory.mkdir(parents=True)
    joblib.dump(model, directory / "model.joblib")
    accuracy = float((model.predict(test_part[features]) == test_part["segment"]).mean())
    return {"overall": {"accuracy": accuracy}}


def snapshot(kit: Any, frame: pd.DataFrame, tmp_path: Path, name: str) -> str:
    path = tmp_path / f"{name}.parquet"
    frame.to_parquet(path)
    details = datasets.VersionDetails(created_by="etl")
    return datasets.snapshot(kit, "activity", path=path, details=details).ref


def two_behaviour_versions(
    kit: Any, tmp_path: Path, rows: int, name: str, depths: tuple[int, int]
) -> pd.DataFrame:
    """Snapshot clean activity, register ``behaviour@1`` and ``@2`` trained on it to ``depths``.

    Returns:
        The snapshot activity, as loaded back.
    """
    ref = snapshot(kit, activity(rows, seed=1, broken_share=0.0), tmp_path, name)
    frame = datasets.load(kit, ref, as_="pandas")
    for number, depth in enumerate(depths, start=1):
        train(frame, tmp_path / f"m{number}", depth=depth)
        models.register(
            kit,
            "behaviour",
            tmp_path / f"m{number}",
            lineage=models.Lineage(data=[ref], packages={}),
        )
    return frame


def test_comparing_the_two_versions_points_at_the_broken_source(
    local_kit: Any, tmp_path: Path, run_cli: Any
) -> None:
    kit = local_kit
    # Both training sets come from the broken source (most advanced features missing).
    first = snapshot(kit, activity(2000, seed=1, broken_share=0.85), tmp_path, "v1")
    second = snapshot(kit, activity(2000, seed=2, broken_share=0.9), tmp_path, "v2")
    live = snapshot(kit, activity(1500, seed=3, broken_share=0.9), tmp_path, "live")
    for number, ref, depth in ((1, first, 3), (2, second, 6)):
        frame = datasets.load(kit, ref, as_="pandas")
        metrics = train(frame, tmp_path / f"model{number}", depth)
        models.register(
            kit,
            "behaviour",
            tmp_path / f"model{number}",
            metrics=metrics,
            lineage=models.Lineage(data=[ref], params={"max_depth": depth}, packages={}),
        )
    assert models.get_version(kit, "behaviour@1").datasets == ["activity@1"]

    # The incident: v2 goes live, labels everyone beginner; the rollback to v1 is no better.
    models.promote(kit, "behaviour@1", "production", "first model")
    models.promote(kit, "behaviour@2", "production", "retrained on fresh data")
    models.rollback(kit, "behaviour", "production", reason="everyone is a beginner")

    comparison = models.compare(kit, "behaviour@1", "behaviour@2", on=live)
    summary = comparison.summary
    on = summary["on"]
    for ref in ("behaviour@1", "behaviour@2"):
        top, count = next(iter(on["predictions"][ref].items()))
        assert top == "beginner" and count / on["rows"] > 0.9, on["predictions"]
    assert on["agreement"] > 0.9
    health = on["health"]["columns"]
    for column in ADVANCED:
        assert health[column]["feature"] and health[column]["mostly_null"]
        assert 0.85 < health[column]["null_rate"] < 0.95
    for column in BASIC:
        assert health[column]["null_rate"] == 0 and not health[column]["constant"]
    assert not health["customer_id"]["feature"]
    assert "the input data source is the likely cause, not the model" in comparison.findings[0]
    pattern = r"feature column 'api_calls' is null in (8[5-9]|9[0-5])% of rows in activity@3"
    assert any(re.match(pattern, finding) for finding in comparison.findings), comparison.findings
    # The training data diff shows the same columns emptied between the two training sets.
    diff = summary["data"]["diffs"]["activity"]
    assert (diff["a"]["ref"], diff["b"]["ref"]) == ("activity@1", "activity@2")
    assert diff["columns"]["api_calls"]["b"]["null_rate"] > 0.85
    assert summary["params"]["max_depth"] == {"a": "3", "b": "6"}

    # The same through the CLI, as JSON and as an offline HTML page.
    page = tmp_path / "compare.html"
    result = run_cli(
        "models",
        "compare",
        "behaviour@1",
        "behaviour@2",
        "--on",
        live,
        "--format",
        "json",
        "--html",
        str(page),
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["findings"] == comparison.findings
    html = page.read_text(encoding="utf-8")
    assert "likely cause" in html and "<svg" in html
    assert not re.search(r"<script|<link|src=", html)  # offline: nothing fetched
    table = run_cli("models", "compare", "behaviour@1", "behaviour@2", "--on", live)
    assert table.exit_code == 0, table.stderr
    assert "input health of activity@3" in table.stdout


def test_comparing_on_data_without_the_feature_columns_is_a_clear_error(
    local_kit: Any, tmp_path: Path
) -> None:
    kit = local_kit
    frame = two_behaviour_versions(kit, tmp_path, 300, "full", depths=(3, 3))
    path = tmp_path / "basic.parquet"
    frame[["customer_id", *BASIC]].to_parquet(path)
    basic = datasets.snapshot(kit, "basic_only", path=path).ref
    with pytest.raises(ConfigError, match=r"lacks the model's feature columns \['api_calls'"):
        models.compare(kit, "behaviour@1", "behaviour@2", on=basic)


def test_text_in_a_numeric_feature_is_reported_with_the_models_that_cannot_predict(
    local_kit: Any, tmp_path: Path
) -> None:
    kit = local_kit
    two_behaviour_versions(kit, tmp_path, 400, "train", depths=(3, 4))
    live = activity(300, seed=4, broken_share=0.0)
    live["api_calls"] = live["api_calls"].map(lambda v: "N/A" if v % 7 == 0 else str(v))
    mistyped = snapshot(kit, live, tmp_path, "mistyped")

    comparison = models.compare(kit, "behaviour@1", "behaviour@2", on=mistyped)

    on = comparison.summary["on"]
    assert set(on["errors"]) == {"behaviour@1", "behaviour@2"} and on["agreement"] is None
    conformance = on["health"]["conformance"]["api_calls"]
    assert conformance["expected"] == "float64" and conformance["examples"][0][0] == "N/A"
    assert any(
        f.startswith("behaviour@1 cannot predict on activity@2") for f in comparison.findings
    )
    assert any(
        re.match(r"column 'api_calls' of activity@2 has \d+ values that are not float64", f)
        for f in comparison.findings
    ), comparison.findings
    models.comparison_page(comparison).write(tmp_path / "page.html")
