"""The gate's decision rule and the metrics JSON it reads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlops_kit.kit import Kit
from mlops_kit.pipelines.demo import churn_frame
from mlops_kit.pipelines.evaluation import evaluate_classifier, holdout_split
from mlops_kit.pipelines.promotion import decide


def _metrics(auc: float, accuracy: float, monthly: float) -> dict[str, object]:
    return {
        "overall": {"roc_auc": auc, "accuracy": accuracy, "log_loss": 0.5},
        "slices": {"contract": {"month-to-month": {"roc_auc": monthly, "count": 500}}},
    }


def test_first_version_is_promoted() -> None:
    decision = decide("m@1", _metrics(0.8, 0.7, 0.8), None, None, ["roc_auc"])
    assert decision.promoted
    assert decision.reasons == ["no champion yet: the first version becomes it"]


def test_better_everywhere_is_promoted() -> None:
    decision = decide(
        "m@2",
        _metrics(0.85, 0.75, 0.84),
        "m@1",
        _metrics(0.8, 0.7, 0.8),
        ["roc_auc", "accuracy"],
        ["contract"],
    )
    assert (decision.promoted, decision.champion) == (True, "m@1")
    assert decision.reasons == [
        "roc_auc improves on m@1 by 0.0500 (0.8500 against 0.8000)",
        "roc_auc better on 1 of 1 values of contract by more than 0.02: "
        "contract=month-to-month 0.8400 against 0.8000",
    ]


def test_promotion_names_the_slice_values_that_improved_in_numeric_order() -> None:
    def by_hour(accuracy: dict[int, float]) -> dict[str, object]:
        hours = {str(h): {"accuracy": a, "count": 40} for h, a in accuracy.items()}
        overall = sum(accuracy.values()) / len(accuracy)
        return {"overall": {"accuracy": overall}, "slices": {"hour_of_day": hours}}

    old = by_hour({2: 0.05, 10: 0.95, 11: 0.95, 22: 0.10})
    new = by_hour({2: 0.93, 10: 0.94, 11: 0.96, 22: 0.90})
    decision = decide("p@2", new, "p@1", old, ["accuracy"], ["hour_of_day"], slice_tolerance=0.05)
    assert decision.promoted
    assert decision.reasons[1] == (
        "accuracy better on 2 of 4 values of hour_of_day by more than 0.05: "
        "hour_of_day=2 0.9300 against 0.0500, hour_of_day=22 0.9000 against 0.1000"
    )
    assert decision.message.startswith("p@2 promoted to champion: accuracy improves on p@1")


def test_every_configured_metric_is_compared_on_every_slice_value() -> None:
    old = _metrics(0.80, 0.70, 0.80)
    new = _metrics(0.85, 0.75, 0.84)
    old["slices"]["contract"]["month-to-month"]["accuracy"] = 0.75  # type: ignore[index]
    new["slices"]["contract"]["month-to-month"]["accuracy"] = 0.60  # type: ignore[index]
    decision = decide("m@2", new, "m@1", old, ["roc_auc", "accuracy"], ["contract"])
    assert not decision.promoted
    assert decision.reasons == [
        "accuracy on contract=month-to-month 0.6000 is worse than the champion's 0.7500 "
        "by more than 0.02"
    ]


@pytest.mark.parametrize(
    ("candidate", "kwargs", "reason"),
    [
        (_metrics(0.80, 0.70, 0.80), {}, "roc_auc 0.8000 is not better than the champion's 0.8000"),
        (
            _metrics(0.81, 0.70, 0.80),
            {"min_improvement": 0.02},
            "roc_auc 0.8100 is not better than the champion's 0.8000 by more than 0.02",
        ),
        (_metrics(0.85, 0.60, 0.80), {}, "accuracy 0.6000 is worse than the champion's 0.7000"),
        (
            _metrics(0.85, 0.75, 0.70),
            {},
            "roc_auc on contract=month-to-month 0.7000 is worse than the champion's 0.8000 "
            "by more than 0.02",
        ),
    ],
)
def test_not_better_says_why(
    candidate: dict[str, object], kwargs: dict[str, float], reason: str
) -> None:
    decision = decide(
        "m@2",
        candidate,
        "m@1",
        _metrics(0.8, 0.7, 0.8),
        ["roc_auc", "accuracy"],
        ["contract"],
        **kwargs,
    )
    assert not decision.promoted
    assert decision.reasons == [reason]


def test_lower_is_better_for_losses() -> None:
    old = {"overall": {"log_loss": 0.50}}
    assert decide("m@2", {"overall": {"log_loss": 0.40}}, "m@1", old, ["log_loss"]).promoted
    assert not decide("m@2", {"overall": {"log_loss": 0.60}}, "m@1", old, ["log_loss"]).promoted


def test_evaluation_is_overall_and_per_slice() -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = churn_frame(3000, seed=3)
    train, test = holdout_split(frame, "churned")
    assert (len(train), len(test)) == (2400, 600)
    model = Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [("c", OneHotEncoder(), ["contract"]), ("n", "passthrough", ["tenure_months"])]
                ),
            ),
            ("classifier", LogisticRegression(max_iter=500)),
        ]
    ).fit(train.drop(columns=["churned"]), train["churned"])
    result = evaluate_classifier(model, test, "churned", ["contract", "region"])
    overall = result["overall"]
    assert set(overall) == {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"}
    assert 0.65 < overall["roc_auc"] < 1.0
    contracts = result["slices"]["contract"]
    assert set(contracts) == {"month-to-month", "one-year", "two-year"}
    assert sum(v["count"] for v in contracts.values()) == 600
    assert "accuracy" in contracts["month-to-month"]


@pytest.mark.parametrize("broken", [float("nan"), float("inf")])
def test_a_metric_that_is_not_a_finite_number_is_never_promoted_and_is_named(
    broken: float,
) -> None:
    candidate = _metrics(0.9, broken, 0.9)
    champion = _metrics(0.8, 0.7, broken)
    decision = decide("m@2", candidate, "m@1", champion, ["roc_auc", "accuracy"], ["contract"])
    assert not decision.promoted
    assert decision.reasons == [
        f"accuracy of m@2 is {broken}, not a finite number: it cannot be compared",
        f"roc_auc of m@1 on contract=month-to-month is {broken}, not a finite number: it "
        "cannot be compared",
    ]


_READS_SETTINGS = """
import sys
from pathlib import Path
from mlops_kit.environments import Workspace
from mlops_kit.errors import ConfigError
from mlops_kit.pipelines.project import PipelineProject
project = PipelineProject(Workspace.discover(Path(sys.argv[1]), environ={}), "x:y")
assert project.config("local").gate.metrics == ["roc_auc", "accuracy"]
try:
    project.config("bad")
except ConfigError as exc:
    print(exc)
print(sorted(m for m in ("ibis", "duckdb") if m in sys.modules))
"""


def test_project_settings_check_their_gate_metrics_without_loading_ibis(tmp_path: Path) -> None:
    # Every pipeline command reads the settings; the table of metrics is all the check needs.
    (tmp_path / "configs").mkdir()
    settings = "dataset: churn\nsource: churn.csv\nmodel_name: churn\ntarget: churned\n"
    (tmp_path / "configs" / "local.yaml").write_text(
        settings + "gate: {metrics: [roc_auc, accuracy]}\n", encoding="utf-8"
    )
    (tmp_path / "configs" / "bad.yaml").write_text(
        settings + "gate: {metrics: [acuracy]}\n", encoding="utf-8"
    )
    out = subprocess.run(
        [sys.executable, "-c", _READS_SETTINGS, str(tmp_path)],
        check=True,
        capture_output=True,
        text=True,
    )
    refused, imported = out.stdout.strip().splitlines()
    assert "unknown classification metric 'acuracy'" in refused
    assert imported == "[]"


def test_an_unknown_gate_metric_is_refused_when_the_config_is_read(
    tmp_path: Path, local_kit: Kit
) -> None:
    from mlops_kit.environments import Workspace
    from mlops_kit.errors import ConfigError
    from mlops_kit.pipelines.project import PipelineProject
    from mlops_kit.pipelines.promotion import gate_candidate

    (tmp_path / "configs").mkdir()
    config = tmp_path / "configs" / "local.yaml"
    config.write_text(
        "dataset: churn\nsource: churn.csv\nmodel_name: churn\ntarget: churned\n"
        "gate: {metrics: [roc_auc, acuracy]}\n",
        encoding="utf-8",
    )
    project = PipelineProject(Workspace.discover(tmp_path, environ={}), "x:y")
    with pytest.raises(
        ConfigError, match="gate.metrics: .*unknown classification metric 'acuracy'"
    ):
        project.config("local")
    config.write_text(config.read_text().replace("acuracy]}", "accuracy], min_improvement: .nan}"))
    with pytest.raises(ConfigError, match="gate.min_improvement: Input should be a finite number"):
        project.config("local")
    # The library's gate refuses it too, before it looks anything up.
    with pytest.raises(
        ConfigError, match="metric 'auc' \\(known: accuracy, .*\\): correct 'gate.metrics'"
    ):
        gate_candidate(local_kit, "churn@1", "churned", ["auc"])
