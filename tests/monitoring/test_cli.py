"""``mlops-kit monitor report`` and ``check`` on the purchase story, and their bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import render_in_chromium

END = "2026-11-20T00:00:00+00:00"


@pytest.fixture
def registered(local_kit, purchase_story, tmp_path: Path) -> str:
    from mlops_kit.data import snapshot
    from mlops_kit.models import Lineage, register

    training = snapshot(local_kit, "purchases", path=purchase_story.training_path)
    artifact = tmp_path / "model.txt"
    artifact.write_text("purchase model")
    metrics = {"overall": {"accuracy": 0.95}, "slices": {"hour_of_day": {"3": {"accuracy": 0.9}}}}
    version = register(
        local_kit, "purchase", artifact, metrics=metrics, lineage=Lineage(data=[training.ref])
    )
    assert version.version == 1
    return "purchase@1"


@pytest.fixture
def spec_file(project_dir: Path) -> Path:
    path = project_dir / "monitoring.yaml"
    path.write_text(
        "model: purchase@1\n"
        "slices: [hour_of_day]\n"
        "min_samples: 50\n"
        "slice_thresholds:\n  hour_of_day:\n    accuracy: {min: 0.7}\n"
        "retraining: {handler: null}\n"
    )
    return path


def test_report_json_and_table(run_cli, registered: str) -> None:
    result = run_cli("monitor", "report", registered, "--end", END, "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    hour3 = next(s for s in data["slices"] if s["column"] == "hour_of_day" and s["value"] == "3")
    assert hour3["metrics"]["accuracy"]["value"] < 0.3
    assert hour3["baseline"] == {"accuracy": 0.9}
    assert data["training_data"] == ["purchases@1"]
    coverage = {entry["value"]: entry for entry in data["coverage"]["hour_of_day"]}
    assert len(coverage) == 24
    assert coverage["3"]["training"] == 0 and coverage["12"]["training_share"] > 0.1
    assert set(data["drift"]) == {"price", "device"}
    table = run_cli("monitor", "report", registered, "--end", END, "--slice", "device")
    assert table.exit_code == 0, table.stderr
    assert "accuracy by device, worst first" in table.stdout and "mobile" in table.stdout
    assert "data health" in table.stdout and table.stdout.startswith("Findings")


def test_check_exits_non_zero_and_names_the_hours(
    run_cli, registered: str, spec_file: Path
) -> None:
    result = run_cli("monitor", "check", "--end", END, "--spec", str(spec_file))
    assert result.exit_code == 1
    assert "violation: accuracy" in result.stdout and "hour_of_day=3" in result.stdout
    assert "hour_of_day=12 " not in result.stdout.split("violation:", 1)[1]
    passing = spec_file.read_text().replace("min: 0.7", "min: 0.01")
    # The registry baseline has no f1: its max_drop cannot be judged, and the check says so.
    spec_file.write_text(passing + "thresholds:\n  f1: {max_drop: 0.05}\n")
    result = run_cli("monitor", "check", "--end", END, "--format", "json")
    assert result.exit_code == 0, result.stderr
    check = json.loads(result.stdout)["check"]
    assert check["passed"] is True
    assert check["warnings"] == [
        "max_drop of f1 not checked on overall: the registry baseline of purchase@1 has no f1 "
        "there (add it to the version's metrics file)"
    ]
    result = run_cli("monitor", "check", "--end", END)
    assert "warning: max_drop of f1 not checked on overall" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["report", "purchase@1", "--window", "0d"], 2, "invalid window '0d'"),
        (["report", "purchase@1", "--end", END, "--slice", "colour"], 2, "unknown slice"),
        (["report", "purchase@9"], 3, "purchase"),
        (["report", "purchase@1", "--end", "2026-11-20"], 2, "invalid --end"),
        (["report", "purchase@1", "--end", "x" * 5000], 2, "invalid --end 'xxx"),
        (["report", "purchase@1", "--window", "-1d"], 2, "invalid window '-1d'"),
        (
            ["report", "purchase@1", "--end", "0001-01-01T00:00+00:00"],
            2,
            "would start before year 1",
        ),
        (
            ["report", "purchase@1", "--end", "0001-01-01T00:00+01:00"],
            2,
            "is outside the years 1 to 9999",
        ),
        (["check", "--spec", "missing.yaml"], 3, "monitoring spec missing.yaml not found"),
        (
            ["report", "purchase@1", "--end", END, "--positive-label", "yes"],
            2,
            "unknown positive label 'yes': no label or prediction of the window is that class "
            "(seen: '0', '1')",
        ),
    ],
)
def test_bad_inputs_are_one_line_errors(run_cli, registered: str, args, code, message) -> None:
    result = run_cli("monitor", *args)
    assert result.exit_code == code, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr) < 400


def test_invalid_spec_is_refused_before_anything_is_stored(
    run_cli, registered: str, spec_file: Path, local_kit
) -> None:
    from sqlalchemy import func, select

    from mlops_kit.db.models.monitoring import MonitoringRun

    spec_file.write_text("slices: [hour_of_day]\nthresholds:\n  acuracy: {min: 0.5}\n")
    result = run_cli("monitor", "check", "purchase@1", "--spec", str(spec_file))
    assert result.exit_code == 2
    assert "unknown classification metric 'acuracy'" in result.stderr
    with local_kit.metadata.session() as session:
        assert session.scalar(select(func.count()).select_from(MonitoringRun)) == 0


@pytest.mark.browser
def test_html_report_renders_in_chromium_and_shows_the_offending_slice(
    run_cli, registered: str, spec_file: Path, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    result = run_cli("monitor", "check", "--end", END, "--html", str(page))
    assert result.exit_code == 1 and page.is_file()
    rendered = render_in_chromium(page, tmp_path)
    assert rendered.console_errors == []
    dom = rendered.dom
    assert "<svg" in dom and "Violations (15)" in dom
    # The night hour is a highlighted row of the violations and of the hourly metrics.
    assert '<tr class="flag"><td>metrics</td><td>accuracy</td><td>hour_of_day=3</td>' in dom
    assert '<tr class="flag"><td>3</td>' in dom
    assert "<tr><td>12</td>" in dom


def test_a_check_before_the_labels_arrive_is_pending_not_passed(
    run_cli, registered: str, spec_file: Path, local_kit, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    import numpy as np

    from mlops_kit.monitoring import PredictionLogger

    later = datetime(2026, 11, 21, tzinfo=UTC)
    rng = np.random.default_rng(4)
    hours = set()
    with PredictionLogger(local_kit, "purchase", 1) as logger:
        for i in range(300):
            at = later - timedelta(minutes=int(rng.integers(1, 24 * 60)))
            hours.add(at.hour)
            score = float(rng.random())
            features = {"price": float(rng.uniform(0, 100)), "device": "mobile"}
            logger.log(f"late-{i}", features, int(score >= 0.5), score=score, timestamp=at)
    spec_file.write_text(
        spec_file.read_text()
        + "window: 1d\nmin_label_share: 0.8\nthresholds:\n  estimated_accuracy: {min: 0.5}\n"
    )
    result = run_cli("monitor", "check", "--end", later.isoformat(), "--format", "json")
    assert result.exit_code == 0, result.stdout[:600]
    data = json.loads(result.stdout)
    check, report = data["check"], data["report"]
    assert check["status"] == "pending" and check["violations"] == []
    assert {p["subject"] for p in check["pending"]} == {f"hour_of_day={h}" for h in hours}
    assert all(p["labelled"] == 0 and p["name"] == "accuracy" for p in check["pending"])
    assert report["labelled"] == 0 and report["labelled_share"] == 0.0
    by_hour = [s for s in report["slices"] if s["column"] == "hour_of_day"]
    assert all(s["pending"] and s["logged"] > 0 for s in by_hour)
    # Before any label, the scores estimate each hour's accuracy, and the spec judges it.
    assert all(s["estimated"]["accuracy"]["value"] > 0.5 for s in by_hour)
    assert report["slices"][0]["estimated"]["accuracy"]["value"] == pytest.approx(0.75, abs=0.05)
    page = tmp_path / "pending.html"
    text = run_cli("monitor", "check", "--end", later.isoformat(), "--html", str(page))
    assert text.exit_code == 0, text.stderr
    assert "pending: accuracy on hour_of_day=" in text.stdout
    assert "0 of " in text.stdout and "judged from 80%" in text.stdout
    assert f"pending ({len(hours)} thresholds await labels)" in text.stdout
    html = page.read_text()
    assert "· pending" in html and "Estimated from the scores (CBPE), against realised" in html


def test_report_finds_weak_slices_on_request_and_the_check_from_its_spec(
    run_cli, registered: str, spec_file: Path, tmp_path: Path
) -> None:
    result = run_cli(
        "monitor", "report", registered, "--end", END, "--slice", "device",
        "--find-weak-slices", "--min-count", "60", "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    weak = data["weak_slices"]
    assert weak and all(w["count"] >= 60 for w in weak)
    assert {w["column"] for w in weak} <= {"hour_of_day", "price", "day_of_week"}
    assert any("the search found" in f["statement"] for f in data["findings"])
    plain = run_cli("monitor", "report", registered, "--end", END)
    assert (
        json.loads(
            run_cli("monitor", "report", registered, "--end", END, "--format", "json").stdout
        )["weak_slices"]
        is None
    )
    assert "weak slices found" not in plain.stdout
    spec_file.write_text(spec_file.read_text() + "weak_slices: {min_count: 60}\n")
    page = tmp_path / "weak.html"
    checked = run_cli("monitor", "check", "--end", END, "--html", str(page))
    assert "weak slices found, worst first" in checked.stdout
    assert f"Weak slices found ({len(weak)})" in page.read_text()
    spec_file.write_text(spec_file.read_text().replace("min_count: 60", "min_count: 0"))
    refused = run_cli("monitor", "check", "--end", END)
    assert refused.exit_code == 2 and "weak_slices.min_count" in refused.stderr


def test_a_terminal_sees_the_stages_of_report_and_check_and_json_gets_only_json(
    run_cli, registered: str, spec_file: Path, terminal
) -> None:
    result = run_cli("monitor", "report", registered, "--end", END, "--find-weak-slices")
    assert result.exit_code == 0, result.stderr
    drawn = terminal.getvalue()
    for stage in (
        "[1/5] counting the predictions of purchase@1",
        "[2/5] reading 4,800 predictions",
        "[3/5] computing the sliced metrics of 4,800 predictions",
        "[4/5] comparing the inputs with the training data",
        "[5/5] searching 4,800 labelled predictions for weak slices",
    ):
        assert stage in drawn, stage
    assert "\x1b" not in result.stdout

    terminal.truncate(0)
    terminal.seek(0)
    checked = run_cli("monitor", "check", "--end", END, "--spec", str(spec_file))
    assert checked.exit_code == 1
    assert "[5/5] judging purchase@1 against the spec" in terminal.getvalue()

    terminal.truncate(0)
    terminal.seek(0)
    as_json = run_cli(
        "monitor", "check", "--end", END, "--spec", str(spec_file), "--format", "json"
    )
    assert as_json.exit_code == 1
    assert terminal.getvalue() == ""
    assert json.loads(as_json.stdout)["check"]["passed"] is False
