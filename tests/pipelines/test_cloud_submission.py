"""Cloud submission from a generated project, against a Kubeflow Pipelines API on loopback.

The twin's fake KFP API (:mod:`tests.cloud_twin.kubeflow`) records the requests the kit sends;
nothing leaves this machine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import yaml

from mlops_kit.errors import BackendError, ConfigError
from mlops_kit.orchestrators import ORCHESTRATORS
from tests.cloud_twin.kubeflow import FakeKubeflow
from tests.cloud_twin.oauth import TokenEndpoint

FIXTURES = Path(__file__).parents[1] / "fixtures"
ACCOUNT = "mlops-dev-deployer@acme-ml-dev.iam.gserviceaccount.com"
IMAGE = "europe-west1-docker.pkg.dev/acme-ml-dev/mlops-dev-images/svc-model"
DIGEST = "sha256:" + "ab" * 32
CHAMPION_DIGEST = "sha256:" + "cd" * 32


@pytest.fixture
def kubeflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubeflow]:
    # The fake wants a Google ID token, which the kit gets for the key file's account.
    tokens = TokenEndpoint().start()
    key = tokens.write_credentials(tmp_path / "key.json", ACCOUNT, "acme-ml-dev")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    server = FakeKubeflow(tokens).start()
    yield server
    server.stop()
    tokens.stop()


@pytest.fixture
def cloud_project(project_dir: Path, kubeflow: FakeKubeflow, run_cli, monkeypatch) -> Path:  # type: ignore[no-untyped-def]
    outputs = json.loads((FIXTURES / "stack-outputs-dev.json").read_text(encoding="utf-8"))
    outputs["kfp_host"] = kubeflow.url
    outputs["kfp_audience"] = kubeflow.audience
    (project_dir / "outputs.json").write_text(json.dumps(outputs), encoding="utf-8")
    assert run_cli("env", "import", "dev", "--from", "outputs.json").exit_code == 0
    created = run_cli("--env", "dev", "new", "svc-model")
    assert created.exit_code == 0, created.stderr
    monkeypatch.chdir(project_dir / "svc-model")
    return project_dir / "svc-model"


def _pin(project: Path, digest: str = DIGEST) -> None:
    """Pin the project's image in configs/dev.yaml, as a team does to run one build everywhere."""
    path = project / "configs" / "dev.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["image"] = f"{config['image']}@{digest}"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")


def _images(body: dict[str, Any]) -> set[str]:
    """The images of every task of a submitted run or recurring run."""
    executors = body["pipeline_spec"]["deploymentSpec"]["executors"].values()
    return {e["container"]["image"] for e in executors}


def _posts(server: FakeKubeflow, prefix: str) -> list[Any]:
    return [
        body
        for method, path, body in server.requests
        if method == "POST" and path.startswith(prefix)
    ]


def test_compile_for_the_cluster_uses_the_project_image(cloud_project: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("--env", "dev", "pipeline", "compile")
    assert result.exit_code == 0, result.stderr
    spec = yaml.safe_load((cloud_project / "build/pipeline-dev.yaml").read_text(encoding="utf-8"))
    images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
    assert images == {"europe-west1-docker.pkg.dev/acme-ml-dev/mlops-dev-images/svc-model"}
    commands = json.dumps(spec["deploymentSpec"])
    assert "pip install" not in commands


def test_run_submits_to_the_environments_kubeflow(  # type: ignore[no-untyped-def]
    cloud_project: Path, kubeflow: FakeKubeflow, run_cli
) -> None:
    result = run_cli("pipeline", "run", "--env", "dev", "--image-digest", DIGEST)
    assert result.exit_code == 0, result.stderr
    assert "run run-1 submitted (PENDING)" in result.stdout
    (experiment,) = _posts(kubeflow, "/apis/v2beta1/experiments")
    assert experiment == {"display_name": "svc-model"}
    (body,) = _posts(kubeflow, "/apis/v2beta1/runs")
    assert body["display_name"] == "svc-model-training"
    assert body["experiment_id"] == "exp-1"
    assert body["service_account"] == "mlops-pipeline-runner@acme-ml-dev.iam.gserviceaccount.com"
    runtime = body["runtime_config"]
    assert runtime["pipeline_root"] == "gs://acme-ml-dev-mlops-models/pipeline-root"
    environment = json.loads(runtime["parameters"]["environment"])
    assert environment["name"] == "dev"
    assert environment["warehouse"] == "bigquery://acme-ml-dev/mlops_dev"
    assert runtime["parameters"]["source"] == "table:acme-ml-dev.svc_model_source.customers"
    assert runtime["parameters"]["deploy_champion"] is False
    assert runtime["parameters"]["weak_slice_min_count"] == 50
    assert body["pipeline_spec"]["pipelineInfo"]["name"] == "svc-model-training"
    assert _images(body) == {f"{IMAGE}@{DIGEST}"}

    listed = run_cli("pipeline", "runs", "-e", "dev", "--format", "json")
    assert [(r["run_id"], r["state"]) for r in json.loads(listed.stdout)] == [
        ("run-1", "SUCCEEDED")
    ]
    (query,) = [
        path for method, path, _ in kubeflow.requests if path.startswith("/apis/v2beta1/runs?")
    ]
    assert "sort_by=created_at+desc" in query
    assert "IS_SUBSTRING" in unquote(query) and "svc-model-training" in unquote(query)


def test_schedule_creates_a_recurring_run(  # type: ignore[no-untyped-def]
    cloud_project: Path, kubeflow: FakeKubeflow, run_cli
) -> None:
    result = run_cli("--env", "dev", "pipeline", "schedule", "--image-digest", DIGEST)
    assert result.exit_code == 0, result.stderr
    (body,) = _posts(kubeflow, "/apis/v2beta1/recurringruns")
    assert _images(body) == {f"{IMAGE}@{DIGEST}"}
    assert body["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * 1"}}
    assert body["max_concurrency"] == "1"
    assert body["mode"] == "ENABLE"
    bad = run_cli("--env", "dev", "pipeline", "schedule", "--cron", "weekly")
    assert bad.exit_code == 2
    assert "malformed cron expression 'weekly'" in bad.stderr


def test_retraining_handler_submits_the_training_pipeline(  # type: ignore[no-untyped-def]
    cloud_project: Path, kubeflow: FakeKubeflow
) -> None:
    from mlops_kit.kit import Kit
    from mlops_kit.monitoring.retraining import RetrainingRequest, request_retraining

    _pin(cloud_project)
    request = RetrainingRequest("svc-model", 3, ["accuracy 0.41 < 0.80 on hour_of_day=3"])
    with Kit.open("dev") as kit:
        started = request_retraining(kit, request, "pipeline")
    # The run goes on in the cluster: the loop follows it by its id.
    assert (started.reference, started.run_id, started.promoted) == ("run-1", "run-1", None)
    (body,) = _posts(kubeflow, "/apis/v2beta1/runs")
    assert body["display_name"] == "svc-model-training"
    assert _images(body) == {f"{IMAGE}@{DIGEST}"}


def test_schedule_on_the_local_twin_is_a_clear_error(cloud_project: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("--env", "local", "pipeline", "schedule", "--cron", "0 3 * * 1")
    assert result.exit_code == 2
    assert "the local twin (kfp-local) cannot schedule recurring runs" in result.stderr


def test_run_parameters_never_hold_a_password(  # type: ignore[no-untyped-def]
    cloud_project: Path, kubeflow: FakeKubeflow, run_cli, monkeypatch
) -> None:
    from mlops_kit.environments import Environment
    from mlops_kit.errors import ConfigError

    metadata = "postgresql+psycopg://mlops:s3cret-pw@db.internal:5432/mlops"
    monkeypatch.setenv("MLOPS_KIT_METADATA", metadata)
    result = run_cli("pipeline", "run", "--env", "dev", "--image-digest", DIGEST)
    assert result.exit_code == 0, result.stderr
    (body,) = _posts(kubeflow, "/apis/v2beta1/runs")
    assert "s3cret-pw" not in json.dumps(body)
    parameter = body["runtime_config"]["parameters"]["environment"]
    assert (
        json.loads(parameter)["metadata"] == "postgresql+psycopg://mlops:***@db.internal:5432/mlops"
    )
    # A step takes the hidden URI from its own environment, or says where to put it.
    assert Environment.from_run_parameter(parameter).metadata == metadata
    with pytest.raises(ConfigError, match="set MLOPS_KIT_METADATA in the pipeline step"):
        Environment.from_run_parameter(parameter, environ={})


def test_requests_carry_an_id_token_of_the_credentials_account(
    cloud_project: Path, kubeflow: FakeKubeflow, run_cli
) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("pipeline", "runs", "-e", "dev", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert kubeflow.callers and set(kubeflow.callers) == {ACCOUNT}


@pytest.mark.parametrize(
    ("query", "fix"),
    [
        ("", "add '?audience=<IAP OAuth client id>'"),
        ("?audience=someone-else", "the proxy in front of KFP admits"),
    ],
)
def test_a_missing_or_wrong_token_is_refused_in_one_line(
    kubeflow: FakeKubeflow, query: str, fix: str
) -> None:
    runner = ORCHESTRATORS.open(f"kfp+{kubeflow.url}{query}")
    for call in (runner.check, runner.list_runs):
        with pytest.raises(BackendError) as refused:
            call()
        message = str(refused.value)
        assert "\n" not in message
        assert "refused the credentials (401" in message and fix in message
    assert kubeflow.callers == []


def test_without_service_account_credentials_the_kit_says_how_to_get_them(
    kubeflow: FakeKubeflow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = tmp_path / "user.json"
    user.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "x",
                "client_secret": "y",
                "refresh_token": "z",
            }
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(user))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    runner = ORCHESTRATORS.open(f"kfp+{kubeflow.url}?audience={kubeflow.audience}")
    with pytest.raises(BackendError, match="cannot get a Google ID token .* service account"):
        runner.check()
    assert kubeflow.requests == []


def test_unknown_uri_parameters_are_refused() -> None:
    with pytest.raises(ConfigError, match="only one is '\\?audience='"):
        ORCHESTRATORS.open("kfp+https://kfp.example?aud=x")


def test_no_second_retraining_run_while_the_clusters_run_is_going(  # type: ignore[no-untyped-def]
    cloud_project: Path, kubeflow: FakeKubeflow, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    from mlops_kit.db import migrate
    from mlops_kit.db.models.monitoring import TriggeredRun
    from mlops_kit.kit import Kit
    from mlops_kit.monitoring import (
        MonitoringReport,
        MonitoringSpec,
        WatchedModel,
        Window,
        run_check,
    )
    from mlops_kit.monitoring.metric_table import Estimate
    from mlops_kit.monitoring.metrics import SliceMetrics

    _pin(cloud_project)
    spec = MonitoringSpec.model_validate(
        {"thresholds": {"accuracy": {"min": 0.9}}, "retraining": {"handler": "pipeline"}}
    )
    morning = datetime(2026, 11, 20, 6, tzinfo=UTC)

    def check(kit: Kit, day: int) -> list[dict[str, Any]]:
        end = morning + timedelta(days=day)
        report = MonitoringReport(
            WatchedModel("svc-model", 1),
            "classification",
            Window.last("7d", end),
            500,
            500,
            [SliceMetrics("overall", "all", 500, {"accuracy": Estimate(0.6)}, logged=500)],
            {},
            {},
            {},
        )
        return run_check(kit, report, spec, now=end).triggers

    # A busy project: a page of the newest runs holds none of the retraining's.
    kubeflow.busy = 150
    kubeflow.outcome = "RUNNING"
    with Kit.open("dev", metadata=f"sqlite:///{tmp_path / 'metadata.db'}") as kit:
        migrate.upgrade(kit.metadata)
        assert [t["outcome"] for t in check(kit, 0)] == ["started"]
        (refused,) = check(kit, 1)
        assert (refused["outcome"], refused["guard"]) == ("refused", "one_in_flight")
        assert refused["message"] == "a retraining run started 2026-11-20 06:00 UTC is still going"
        kubeflow.finish("run-1", "FAILED")
        assert [t["outcome"] for t in check(kit, 2)] == ["started"]
        with kit.metadata.session() as session:
            first = session.get(TriggeredRun, 1)
            second = session.get(TriggeredRun, 2)
            assert first is not None and second is not None
            assert (first.state, first.run_id, first.promoted) == ("failed", "run-1", False)
            assert (second.state, second.run_id) == ("submitted", "run-2")
    posted = _posts(kubeflow, "/apis/v2beta1/runs")
    assert len(posted) == 2
    # The loop read the run it follows by its id, and never listed the project's runs.
    reads = [path for method, path, _ in kubeflow.requests if method == "GET"]
    assert [path for path in reads if path.startswith("/apis/v2beta1/runs")] == [
        "/apis/v2beta1/runs/run-1",
        "/apis/v2beta1/runs/run-1",
    ]


def _champion(kit: Any, tmp_path: Path, image: str | None) -> None:
    """Register svc-model@1 (recording ``image``) and make it the champion."""
    from mlops_kit import models
    from mlops_kit.db import migrate

    migrate.upgrade(kit.metadata)
    artifact = tmp_path / "model.joblib"
    artifact.write_bytes(b"a model")
    lineage = models.Lineage(image_digest=image, packages={})
    models.register(kit, "svc-model", artifact, metrics={"accuracy": 0.8}, lineage=lineage)
    models.promote(kit, "svc-model@1", "champion", "first version")


def _dev_kit(tmp_path: Path) -> Any:
    from mlops_kit.kit import Kit

    return Kit.open(
        "dev",
        metadata=f"sqlite:///{tmp_path / 'metadata.db'}",
        artifacts=(tmp_path / "models").as_uri(),
    )


def test_retraining_trains_in_the_image_that_produced_the_champion(  # type: ignore[no-untyped-def]
    cloud_project: Path, kubeflow: FakeKubeflow, tmp_path: Path
) -> None:
    from mlops_kit.monitoring.retraining import RetrainingRequest, request_retraining
    from mlops_kit.pipelines.project import PipelineProject

    with _dev_kit(tmp_path) as kit:
        _champion(kit, tmp_path, f"{IMAGE}@{CHAMPION_DIGEST}")
        request = RetrainingRequest("svc-model", 1, ["accuracy 0.41 < 0.80"])
        assert request_retraining(kit, request, "pipeline").run_id == "run-1"
        # A recurring run made without --image-digest trains there too.
        PipelineProject.discover().schedule(kit)
    (run,) = _posts(kubeflow, "/apis/v2beta1/runs")
    (recurring,) = _posts(kubeflow, "/apis/v2beta1/recurringruns")
    assert _images(run) == _images(recurring) == {f"{IMAGE}@{CHAMPION_DIGEST}"}


def test_a_digest_given_or_pinned_comes_before_the_champions(  # type: ignore[no-untyped-def]
    cloud_project: Path, kubeflow: FakeKubeflow, tmp_path: Path
) -> None:
    from mlops_kit.pipelines.project import PipelineProject

    project = PipelineProject.discover()
    with _dev_kit(tmp_path) as kit:
        _champion(kit, tmp_path, CHAMPION_DIGEST)  # a bare digest names the configured image
        config = project.config("dev")
        assert project.run_target(kit, config).image == f"{IMAGE}@{CHAMPION_DIGEST}"
        assert project.run_target(kit, config, DIGEST).image == f"{IMAGE}@{DIGEST}"
        _pin(cloud_project)
        assert project.run_target(kit, project.config("dev")).image == f"{IMAGE}@{DIGEST}"


@pytest.mark.parametrize(
    ("champion", "expected"),
    [
        (False, "svc-model@champion does not exist yet: pass --image-digest sha256:<digest>"),
        (True, "svc-model@champion records no image: pass --image-digest sha256:<digest>"),
    ],
)
def test_a_cluster_run_without_a_digest_is_refused_in_one_line(  # type: ignore[no-untyped-def]
    cloud_project: Path, kubeflow: FakeKubeflow, tmp_path: Path, champion: bool, expected: str
) -> None:
    from mlops_kit.monitoring.retraining import RetrainingRequest
    from mlops_kit.pipelines.retraining import submit_training_pipeline

    # A tag in the config is no pin: it names whatever was pushed last.
    path = cloud_project / "configs" / "dev.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("/svc-model\n", "/svc-model:latest\n"),
        encoding="utf-8",
    )
    with _dev_kit(tmp_path) as kit:
        if champion:
            _champion(kit, tmp_path, None)
        else:
            from mlops_kit.db import migrate

            migrate.upgrade(kit.metadata)
        with pytest.raises(ConfigError) as refused:
            submit_training_pipeline(kit, RetrainingRequest("svc-model", 1, ["drift"]))
    assert expected in str(refused.value)
    assert "\n" not in str(refused.value)
    assert _posts(kubeflow, "/apis/v2beta1/runs") == []


@pytest.mark.parametrize(
    "digest", ["latest", "sha256:../../etc/passwd", "sha256:<b>" + "a" * 59, "sha256:'; DROP"]
)
def test_a_malformed_digest_is_refused_before_anything_is_scheduled(  # type: ignore[no-untyped-def]
    cloud_project: Path, kubeflow: FakeKubeflow, run_cli, digest: str
) -> None:
    result = run_cli("--env", "dev", "pipeline", "schedule", "--image-digest", digest)
    assert result.exit_code == 2
    assert "invalid image digest" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert _posts(kubeflow, "/apis/v2beta1/recurringruns") == []


@pytest.mark.parametrize("value", [0, -5, "many", False])
def test_a_bad_weak_slice_row_count_is_refused_in_one_line(  # type: ignore[no-untyped-def]
    cloud_project: Path, kubeflow: FakeKubeflow, run_cli, value: object
) -> None:
    path = cloud_project / "configs" / "dev.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["gate"]["weak_slice_min_count"] = value
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = run_cli("--env", "dev", "pipeline", "run", "--image-digest", DIGEST)
    assert result.exit_code == 2, result.stderr
    assert "configs/dev.yaml: gate.weak_slice_min_count: " in result.stderr
    assert f"{value!r} is not a number of rows: use a whole number above 0" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert _posts(kubeflow, "/apis/v2beta1/runs") == []


def _wait(run_cli, *options: str):  # type: ignore[no-untyped-def]
    """``pipeline run --wait`` in dev, polling the fake as fast as it answers."""
    args = [
        "pipeline",
        "run",
        "-e",
        "dev",
        "--image-digest",
        DIGEST,
        "--wait",
        "--interval",
        "0.01",
    ]
    return run_cli(*args, *options)


def _tasks(cloud_project: Path, run_cli) -> list[str]:  # type: ignore[no-untyped-def]
    """The training pipeline's tasks, as the cluster reports them."""
    from mlops_kit.orchestrators import task_names

    assert run_cli("-e", "dev", "pipeline", "compile", "--image-digest", DIGEST).exit_code == 0
    return task_names(cloud_project / "build" / "pipeline-dev.yaml")


def test_run_wait_draws_the_tasks_until_the_run_ends(  # type: ignore[no-untyped-def]
    cloud_project: Path, kubeflow: FakeKubeflow, run_cli, terminal
) -> None:
    kubeflow.tasks = tasks = _tasks(cloud_project, run_cli)
    assert len(tasks) >= 3
    result = _wait(run_cli)
    assert result.exit_code == 0, result.stderr
    assert (
        result.stdout.splitlines()[-1]
        == f"run run-1 succeeded: {kubeflow.url}/#/runs/details/run-1"
    )
    # The last frame before the bars are cleared shows a line per step of the run, each counting
    # its tasks as done (how many were done at each step is the library's: see the Vertex twin).
    drawn = terminal.getvalue()
    for task in tasks:
        assert f"svc-model-training: {task} running" in drawn, task
    total = len(tasks)
    assert "svc-model-training: succeeded" in drawn and f"{total}/{total} tasks" in drawn
    # The run was read once a step: each task's turn and its end.
    reads = [p for m, p, _ in kubeflow.requests if m == "GET" and p == "/apis/v2beta1/runs/run-1"]
    assert len(reads) == total + 1


def test_run_wait_off_a_terminal_prints_only_the_outcome(  # type: ignore[no-untyped-def]
    cloud_project: Path, kubeflow: FakeKubeflow, run_cli
) -> None:
    kubeflow.tasks = _tasks(cloud_project, run_cli)
    result = _wait(run_cli)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        "running the training pipeline to dev (dev)",
        f"run run-1 succeeded: {kubeflow.url}/#/runs/details/run-1",
    ]


def test_a_failed_run_ends_the_wait_non_zero_in_one_line(  # type: ignore[no-untyped-def]
    cloud_project: Path, kubeflow: FakeKubeflow, run_cli
) -> None:
    kubeflow.tasks = tasks = _tasks(cloud_project, run_cli)
    kubeflow.outcome = "FAILED"
    result = _wait(run_cli)
    assert result.exit_code == BackendError.exit_code
    (line,) = result.stderr.strip().splitlines()
    assert f"pipeline run run-1 failed: task {tasks[-1]} failed" in line


def test_the_wait_ends_at_the_timeout_in_one_line(  # type: ignore[no-untyped-def]
    cloud_project: Path, kubeflow: FakeKubeflow, run_cli
) -> None:
    kubeflow.tasks = _tasks(cloud_project, run_cli)
    kubeflow.outcome = "RUNNING"
    result = _wait(run_cli, "--timeout", "0.5")
    assert result.exit_code == BackendError.exit_code
    (line,) = result.stderr.strip().splitlines()
    assert "pipeline run run-1 is still RUNNING after 0.5 s; it goes on" in line
    assert "wait longer (--timeout)" in line


def test_run_in_json_is_one_object_of_the_submission(  # type: ignore[no-untyped-def]
    cloud_project: Path, kubeflow: FakeKubeflow, run_cli, terminal
) -> None:
    result = run_cli("pipeline", "run", "-e", "dev", "--image-digest", DIGEST, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "" and terminal.getvalue() == ""
    submitted = json.loads(result.stdout)
    assert submitted["run_id"] == "run-1"
    assert submitted["state"] == "PENDING"
    assert submitted["pipeline"] == submitted["name"] == "svc-model-training"
    assert submitted["package"] == str(cloud_project / "build" / "pipeline-dev.yaml")
    assert submitted["environment"] == "dev"
    assert submitted["orchestrator"] == f"kfp+{kubeflow.url}?audience={kubeflow.audience}"
    assert submitted["url"] == f"{kubeflow.url}/#/runs/details/run-1"
    (body,) = _posts(kubeflow, "/apis/v2beta1/runs")
    # The parameters are those the cluster received.
    assert submitted["parameters"] == body["runtime_config"]["parameters"]
    assert submitted["parameters"]["source"] == "table:acme-ml-dev.svc_model_source.customers"
    assert submitted["created_at"] == "2026-11-02 03:00:00+00:00"
    assert (submitted["finished_at"], submitted["duration_seconds"]) == (None, None)
    assert (submitted["tasks"], submitted["gate"], submitted["error"]) == ({}, None, None)


def test_run_wait_in_json_ends_with_the_state_of_each_task(  # type: ignore[no-untyped-def]
    cloud_project: Path, kubeflow: FakeKubeflow, run_cli, terminal
) -> None:
    kubeflow.tasks = tasks = _tasks(cloud_project, run_cli)
    result = _wait(run_cli, "--format", "json")
    assert result.exit_code == 0, result.stderr
    # Nothing drawn on the terminal, nothing said on stderr: stdout is the run.
    assert result.stderr == "" and terminal.getvalue() == ""
    ended = json.loads(result.stdout)
    assert (ended["run_id"], ended["state"], ended["error"]) == ("run-1", "SUCCEEDED", None)
    assert ended["tasks"] == dict.fromkeys(tasks, "SUCCEEDED")
    assert ended["finished_at"] == "2026-11-02 03:20:30+00:00"
    assert ended["duration_seconds"] == 1230.0


def test_a_failed_run_in_json_exits_non_zero_after_its_json(  # type: ignore[no-untyped-def]
    cloud_project: Path, kubeflow: FakeKubeflow, run_cli, terminal
) -> None:
    kubeflow.tasks = tasks = _tasks(cloud_project, run_cli)
    kubeflow.outcome = "FAILED"
    result = _wait(run_cli, "--format", "json")
    assert result.exit_code == BackendError.exit_code == 6
    failed = json.loads(result.stdout)
    assert (failed["run_id"], failed["state"]) == ("run-1", "FAILED")
    assert failed["error"] == f"task {tasks[-1]} failed"
    assert failed["tasks"] == {**dict.fromkeys(tasks, "SUCCEEDED"), tasks[-1]: "FAILED"}
    # On the terminal's stderr, no frame of the tasks: the error's one line alone.
    (line,) = re.sub(r"\x1b\[[0-9;]*m", "", terminal.getvalue()).splitlines()
    assert line.startswith(f"error: pipeline run run-1 failed: task {tasks[-1]} failed")


def test_compile_and_schedule_in_json(  # type: ignore[no-untyped-def]
    cloud_project: Path, kubeflow: FakeKubeflow, run_cli
) -> None:
    compiled = run_cli("-e", "dev", "pipeline", "compile", "--image-digest", DIGEST, "-f", "json")
    assert compiled.exit_code == 0, compiled.stderr
    assert json.loads(compiled.stdout) == {
        "environment": "dev",
        "package": str(cloud_project / "build" / "pipeline-dev.yaml"),
    }
    scheduled = run_cli(
        "-e", "dev", "pipeline", "schedule", "--image-digest", DIGEST, "--format", "json"
    )
    assert scheduled.exit_code == 0, scheduled.stderr
    assert json.loads(scheduled.stdout) == {
        "schedule_id": "rec-1",
        "name": "svc-model-training",
        "cron": "0 3 * * 1",
        "url": f"{kubeflow.url}/#/recurringrun/details/rec-1",
        "environment": "dev",
    }
    bad = run_cli("-e", "dev", "pipeline", "schedule", "--cron", "weekly", "--format", "json")
    assert (bad.exit_code, bad.stdout) == (2, "")
    assert len(bad.stderr.strip().splitlines()) == 1
