"""Cloud submission from a generated project, against a Kubeflow Pipelines API on loopback.

The twin's fake KFP API (:mod:`tests.cloud_twin.kubeflow`) records the requests the kit sends;
nothing leaves this machine.
"""

from __future__ import annotations

import json
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
    result = run_cli("pipeline", "run", "--env", "dev")
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
    assert body["pipeline_spec"]["pipelineInfo"]["name"] == "svc-model-training"

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
    result = run_cli("--env", "dev", "pipeline", "schedule")
    assert result.exit_code == 0, result.stderr
    (body,) = _posts(kubeflow, "/apis/v2beta1/recurringruns")
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

    request = RetrainingRequest("svc-model", 3, ["accuracy 0.41 < 0.80 on hour_of_day=3"])
    with Kit.open("dev") as kit:
        started = request_retraining(kit, request, "pipeline")
    # The run goes on in the cluster: the loop follows it by its id.
    assert (started.reference, started.run_id, started.promoted) == ("run-1", "run-1", None)
    (body,) = _posts(kubeflow, "/apis/v2beta1/runs")
    assert body["display_name"] == "svc-model-training"


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
    result = run_cli("pipeline", "run", "--env", "dev")
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
    from mlops_kit.monitoring import MonitoringReport, MonitoringSpec, WatchedModel, run_check
    from mlops_kit.monitoring.metrics import Estimate, SliceMetrics

    spec = MonitoringSpec.model_validate(
        {"thresholds": {"accuracy": {"min": 0.9}}, "retraining": {"handler": "pipeline"}}
    )
    morning = datetime(2026, 11, 20, 6, tzinfo=UTC)

    def check(kit: Kit, day: int) -> list[dict[str, Any]]:
        end = morning + timedelta(days=day)
        report = MonitoringReport(
            WatchedModel("svc-model", 1),
            "classification",
            end - timedelta(days=7),
            end,
            500,
            500,
            [SliceMetrics("overall", "all", 500, {"accuracy": Estimate(0.6)}, logged=500)],
            {},
            {},
            {},
        )
        return run_check(kit, report, spec, now=end).triggers

    with Kit.open("dev", metadata=f"sqlite:///{tmp_path / 'metadata.db'}") as kit:
        migrate.upgrade(kit.metadata)
        assert [t["outcome"] for t in check(kit, 0)] == ["started"]
        kubeflow.listed_state = "RUNNING"
        (refused,) = check(kit, 1)
        assert (refused["outcome"], refused["guard"]) == ("refused", "one_in_flight")
        assert refused["message"] == "a retraining run started 2026-11-20 06:00 UTC is still going"
        kubeflow.listed_state = "FAILED"
        assert [t["outcome"] for t in check(kit, 2)] == ["started"]
        with kit.metadata.session() as session:
            first = session.get(TriggeredRun, 1)
            assert first is not None
            assert (first.state, first.run_id, first.promoted) == ("failed", "run-1", False)
    posted = _posts(kubeflow, "/apis/v2beta1/runs")
    assert len(posted) == 2
