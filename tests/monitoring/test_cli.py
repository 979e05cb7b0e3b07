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
