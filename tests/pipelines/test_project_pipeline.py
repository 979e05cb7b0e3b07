"""Like a user: render the template, run its own tests, run its pipeline on the local twin."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_kit import provenance
from mlops_kit.kit import Kit
from mlops_kit.orchestrators import PipelineRun
from mlops_kit.pipelines.demo import write_demo_data
from mlops_kit.pipelines.project import PipelineProject
from mlops_kit.scaffold.quickstart import quickstart_project

pytestmark = [pytest.mark.pipelines, pytest.mark.slow]
ROWS = 1500


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Kit, PipelineProject]]:
    """The quick start's demo project, rendered from the shipped template, with its demo data."""
    base = tmp_path_factory.mktemp("user")
    with quickstart_project(base / "retention", rows=ROWS, environ={}) as (kit, project):
        # Small and quick (the point is the flow, not the model), and deploying the champion.
        config = project.root / "configs" / "local.yaml"
        text = config.read_text(encoding="utf-8")
        text = text.replace("max_iter: 150", "max_iter: 40").replace(
            "deploy: false", "deploy: true"
        )
        config.write_text(text, encoding="utf-8")
        yield kit, project


@pytest.fixture(scope="module")
def project(quickstart: tuple[Kit, PipelineProject]) -> PipelineProject:
    return quickstart[1]


@pytest.fixture(scope="module")
def kit(quickstart: tuple[Kit, PipelineProject]) -> Kit:
    return quickstart[0]


@pytest.fixture(scope="module")
def first_run(project: PipelineProject, kit: Kit) -> PipelineRun:
    return project.submit(kit)


def test_the_projects_own_tests_pass(project: PipelineProject) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project.root,
        capture_output=True,
        text=True,
        # The kit under test stays importable (a checkout on PYTHONPATH), after the project's src.
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                [str(project.root / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
        },
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "3 passed" in result.stdout


def test_first_run_versions_data_registers_promotes_and_deploys(
    first_run: PipelineRun, project: PipelineProject, kit: Kit
) -> None:
    from mlops_kit import data, models

    assert first_run.state == "SUCCEEDED", first_run.error
    decision = json.loads(first_run.outputs["Output"])
    first, weak = decision.pop("reasons")
    assert decision == {"candidate": "retention@1", "champion": None, "promoted": True}
    assert first == "no champion yet: the first version becomes it"
    # The template turns the gate's search on: month-to-month customers churn half the time,
    # and the decision names them as where the new version does worst.
    assert weak.startswith(
        "weak slices of retention@1 on the held-out rows of retention@1: "
        "contract=month-to-month: accuracy "
    ), weak
    assert weak.endswith("overall (174 rows)"), weak
    dataset = data.get_version(kit, "retention@1")
    assert dataset.row_count == ROWS
    assert dataset.source.endswith("data/retention.csv")
    version = models.get_version(kit, "retention@champion")
    assert version.ref == "retention@1"
    assert version.datasets == ["retention@1"]
    assert version.pipeline_run_id
    assert version.git_commit == dataset.git_commit == provenance.git_commit(project.root)
    assert version.git_commit is not None and len(version.git_commit) == 40
    assert version.params["max_iter"] == "40"
    assert 0.6 < version.metrics["roc_auc"] <= 1.0
    assert set(version.slices) == {"contract", "region"}
    assert version.slices["contract"]["month-to-month"]["count"] > 20
    # Deployed through the local target: the alias serving processes follow.
    assert models.get_version(kit, "retention@production").ref == "retention@1"
    deployed = models.history(kit, "retention", "production")
    assert [(e.action, e.to_version) for e in deployed] == [("promote", 1)]
    assert deployed[0].reason == f"new champion: {first}; {weak}"
    loaded = models.load_model(kit, "retention@champion")
    rows = data.load(kit, "retention@1", as_="pandas")
    predictions = loaded.predict(rows.head(50))
    assert len(predictions) == 50
    assert set(predictions) <= set(rows["churned"])


def test_worse_data_registers_a_version_but_does_not_promote_it(  # type: ignore[no-untyped-def]
    first_run: PipelineRun, project: PipelineProject, kit: Kit, run_cli, monkeypatch
) -> None:
    from mlops_kit import models

    assert first_run.state == "SUCCEEDED"
    source = project.root / project.config("local").source
    write_demo_data(source, rows=ROWS, seed=2, label_noise=0.7)
    monkeypatch.chdir(project.root)
    result = run_cli("pipeline", "run")
    assert result.exit_code == 0, result.stderr
    assert "data version   retention@2" in result.stdout
    assert "model version  retention@2" in result.stdout
    assert "champion       retention@1 stays; retention@2 not promoted: roc_auc" in result.stdout
    assert "is not better than the champion's" in result.stdout
    # Labels no model can learn are bad everywhere alike: no slice stands out.
    assert "no weak slice of retention@2 on the held-out rows of retention@2" in result.stdout
    assert models.get_version(kit, "retention@champion").ref == "retention@1"
    assert models.get_version(kit, "retention@2").datasets == ["retention@2"]
    assert models.get_version(kit, "retention@production").ref == "retention@1"
    assert [e.to_version for e in models.history(kit, "retention", "production")] == [1]

    listed = run_cli("pipeline", "runs", "--format", "json")
    states = [run["state"] for run in json.loads(listed.stdout)]
    assert states == ["SUCCEEDED", "SUCCEEDED"]


def test_a_local_run_in_json_holds_its_tasks_and_the_gates_decision(  # type: ignore[no-untyped-def]
    first_run: PipelineRun, project: PipelineProject, kit: Kit, run_cli, monkeypatch, terminal
) -> None:
    assert first_run.state == "SUCCEEDED"
    monkeypatch.chdir(project.root)
    result = run_cli("pipeline", "run", "--format", "json")
    assert result.exit_code == 0, result.stderr
    # kfp.local's output, the tasks' lines and the progress stay off stdout and the terminal.
    assert result.stderr == "" and terminal.getvalue() == ""
    ran = json.loads(result.stdout)
    assert ran["state"] == "SUCCEEDED" and ran["error"] is None
    assert ran["run_id"].startswith("retention-training-")
    assert (ran["pipeline"], ran["environment"], ran["orchestrator"]) == (
        "retention-training",
        "local",
        "kfp-local",
    )
    assert Path(ran["url"]).is_file() and ran["url"].endswith("run.log")
    assert ran["parameters"]["model_name"] == "retention"
    assert ran["parameters"]["git_commit"] == provenance.git_commit(project.root)
    # Every task of the pipeline ran (deploy only for a new champion: inside its condition).
    assert set(ran["tasks"].values()) == {"SUCCEEDED"}
    assert {"validate-data", "promote-if-better"} <= set(ran["tasks"])
    assert ran["duration_seconds"] > 0
    gate = ran["gate"]
    assert (gate["champion"], gate["promoted"]) == ("retention@1", False)
    assert ran["gate"] == json.loads(ran["outputs"]["Output"])
    listed = json.loads(run_cli("pipeline", "runs", "--format", "json").stdout)
    assert listed[0]["run_id"] == ran["run_id"]


def put_text_in_column(project: PipelineProject, column: str, every: int, text: str) -> None:
    """Overwrite every ``every``-th value of ``column`` of the project's source with ``text``."""
    source = project.root / project.config("local").source
    frame = __import__("pandas").read_csv(source)
    frame[column] = frame[column].astype(str)
    frame.loc[::every, column] = text
    frame.to_csv(source, index=False)


def test_text_in_a_numeric_column_fails_the_run_at_validation(  # type: ignore[no-untyped-def]
    first_run: PipelineRun, project: PipelineProject, kit: Kit
) -> None:
    from mlops_kit import models

    assert first_run.state == "SUCCEEDED"
    put_text_in_column(project, "tenure_months", every=10, text="unknown")
    before = [v.ref for v in models.list_versions(kit, "retention")]

    run = project.submit(kit)

    assert run.state == "FAILED"
    assert run.error is not None
    assert run.error.startswith("task 'validate-data' failed: IntegrityError: ")
    assert "column tenure_months retyped int64→string" in run.error
    assert (
        f"tenure_months has {ROWS // 10} of {ROWS} values that are not int64 (e.g. 'unknown')"
        in (run.error)
    )
    assert [v.ref for v in models.list_versions(kit, "retention")] == before


def test_a_failed_local_run_in_json_exits_non_zero_after_its_json(  # type: ignore[no-untyped-def]
    first_run: PipelineRun, project: PipelineProject, run_cli, monkeypatch
) -> None:
    assert first_run.state == "SUCCEEDED"
    put_text_in_column(project, "tenure_months", every=10, text="unknown")
    monkeypatch.chdir(project.root)
    result = run_cli("pipeline", "run", "--format", "json")
    assert result.exit_code == 6
    failed = json.loads(result.stdout)
    assert failed["state"] == "FAILED"
    assert failed["error"].startswith("task 'validate-data' failed: IntegrityError: ")
    assert failed["tasks"]["validate-data"] == "FAILED"
    assert failed["gate"] is None
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: pipeline run {failed['run_id']} failed: task 'validate-data'")


def test_a_failed_retraining_run_is_the_handlers_failure(  # type: ignore[no-untyped-def]
    first_run: PipelineRun, project: PipelineProject, kit: Kit, monkeypatch
) -> None:
    from mlops_kit.errors import BackendError
    from mlops_kit.monitoring.retraining import RetrainingRequest, request_retraining

    assert first_run.state == "SUCCEEDED"
    put_text_in_column(project, "support_calls", every=5, text="many")
    monkeypatch.chdir(project.root)
    request = RetrainingRequest("retention", 1, ["accuracy 0.41 breaks min 0.5 on hour_of_day=3"])

    with pytest.raises(BackendError) as failed:
        request_retraining(kit, request, "pipeline")

    assert re.match(
        r"retraining run retention-training-\S+ failed: task 'validate-data' failed: "
        r"IntegrityError: .*support_calls",
        str(failed.value),
    )


def test_compiled_pipeline_matches_the_golden_file(project: PipelineProject, kit: Kit) -> None:
    golden = Path(__file__).parent / "golden" / "retention-training.yaml"
    compiled = project.compile(kit.environment, project.root / "build" / "golden.yaml")
    text = compiled.read_text(encoding="utf-8")
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8"), (
        "the compiled pipeline changed: review it, then regenerate the golden file with "
        "UPDATE_GOLDEN=1 pytest tests/pipelines -k golden"
    )


def test_quickstart_ends_with_next_commands_that_all_work(  # type: ignore[no-untyped-def]
    tmp_path: Path, run_cli, monkeypatch
) -> None:
    result = run_cli("quickstart", str(tmp_path / "demo"), "--rows", "1200")
    assert result.exit_code == 0, result.stderr
    assert "3/3 serving the champion to 1200 new demo customers" in result.stdout
    assert "over HTTP with `mlops-kit serve`" in result.stdout
    commands = re.findall(r"^  (mlops-kit .+?)(?:  |$)", result.stdout, re.MULTILINE)
    assert "mlops-kit monitor report demo@1 --slice hour_of_day --slice contract" in commands
    assert "mlops-kit monitor check" in commands
    monkeypatch.chdir(tmp_path / "demo")
    # Every one but the last, which runs the pipeline again.
    for command in commands[:-1]:
        ran = run_cli(*command.split()[1:])
        assert ran.exit_code == 0, f"{command}: {ran.stdout[-1500:]}{ran.stderr}"
    suggested = ("monitor", "report", "demo@1", "--slice", "hour_of_day", "--slice", "contract")
    report = json.loads(run_cli(*suggested, "--format", "json").stdout)
    assert report["labelled"] == 1200
    hours = [s for s in report["slices"] if s["column"] == "hour_of_day"]
    assert len(hours) == 24
    # The boolean target's positive class is the evaluation's, and said; every metric of the
    # window has a live value or a note saying why not.
    assert report["positive_label"] == "True"
    assert any("positive class 'True'" in note for note in report["notes"])
    overall = report["slices"][0]
    for name, estimate in overall["metrics"].items():
        assert estimate["value"] is not None or any(
            note.startswith(f"{name} has no value") for note in report["notes"]
        ), (name, report["notes"])
    assert {"precision", "recall", "f1", "roc_auc"} <= {
        name for name, e in overall["metrics"].items() if e["value"] is not None
    }
    # At 80 columns the findings come first and slice names and values stay readable.
    from mlops_kit.cli.output import console

    monkeypatch.setattr(console, "_width", 80)
    shown = run_cli(*suggested)
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout.startswith("Findings")
    assert "contract" in shown.stdout and "month" in shown.stdout
    assert all(len(line) <= 80 for line in shown.stdout.splitlines())


def test_quickstart_refuses_a_non_empty_directory(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "keep.txt").write_text("mine", encoding="utf-8")
    result = run_cli("quickstart", str(tmp_path / "demo"))
    assert result.exit_code == 4
    assert "already exists and is not empty" in result.stderr
    assert [p.name for p in (tmp_path / "demo").iterdir()] == ["keep.txt"]
