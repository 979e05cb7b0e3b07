"""The orchestrator backends: kfp.local really runs; cloud requests are checked as built."""

# No `from __future__ import annotations`: KFP reads the component signatures.

from pathlib import Path

import pytest

from mlops_kit.errors import BackendError, ConfigError
from mlops_kit.orchestrators import ORCHESTRATORS, PipelineSubmission

pytestmark = pytest.mark.pipelines


def _double(x: int) -> int:
    return 2 * x


def _fail_when_negative(x: int) -> int:
    if x < 0:
        raise ValueError(f"x must not be negative, got {x}")
    return x


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kfp import compiler, dsl

    double = dsl.component(_double, install_kfp_package=False, base_image="python:3.11")
    check = dsl.component(_fail_when_negative, install_kfp_package=False, base_image="python:3.11")

    @dsl.pipeline(name="tiny")
    def tiny(x: int = 1) -> int:
        return double(x=check(x=x).output).output

    path = tmp_path_factory.mktemp("compiled") / "tiny.yaml"
    compiler.Compiler().compile(tiny, str(path))
    return path


def test_local_run_executes_and_is_listed(package: Path, tmp_path: Path) -> None:
    runner = ORCHESTRATORS.open("kfp-local")
    events: list[tuple[str, str]] = []
    submission = PipelineSubmission(package, {"x": 21}, "tiny", pipeline_root=str(tmp_path))
    run = runner.submit(submission, on_task=lambda task, state: events.append((task, state)))
    assert run.state == "SUCCEEDED", run.error
    assert run.outputs == {"Output": 42}
    assert ("fail-when-negative", "SUCCEEDED") in events
    assert events[-1] == ("double", "SUCCEEDED")
    assert Path(str(run.url)).read_text(encoding="utf-8").count("Executing task") == 2
    (listed,) = runner.list_runs(pipeline_root=str(tmp_path))
    assert (listed.run_id, listed.state, listed.outputs) == (run.run_id, "SUCCEEDED", run.outputs)
    assert runner.list_runs(pipeline_root=str(tmp_path), name="tiny") == [listed]
    assert runner.list_runs(pipeline_root=str(tmp_path), name="other-training") == []


def test_local_failure_names_the_task_and_the_error(package: Path, tmp_path: Path) -> None:
    runner = ORCHESTRATORS.open("kfp-local")
    submission = PipelineSubmission(package, {"x": -1}, "tiny", pipeline_root=str(tmp_path))
    run = runner.submit(submission)
    assert run.state == "FAILED"
    assert run.error == (
        "task 'fail-when-negative' failed: ValueError: x must not be negative, got -1"
    )
    assert runner.list_runs(pipeline_root=str(tmp_path))[0].state == "FAILED"


def _connect(url: str) -> str:
    print(f"connecting to {url}")
    raise ValueError(f"cannot reach {url}")


def test_no_password_reaches_the_run_log_or_the_run_record(tmp_path: Path) -> None:
    from kfp import compiler, dsl

    connect = dsl.component(_connect, install_kfp_package=False, base_image="python:3.11")

    @dsl.pipeline(name="connect")
    def pipeline(url: str) -> str:
        return connect(url=url).output

    package = tmp_path / "connect.yaml"
    compiler.Compiler().compile(pipeline, str(package))
    url = "postgresql://trainer:hunter2@db.internal:5432/meta?sslpassword=s3cret&sslmode=require"
    submission = PipelineSubmission(package, {"url": url}, "connect", pipeline_root=str(tmp_path))
    run = ORCHESTRATORS.open("kfp-local").submit(submission)
    assert run.state == "FAILED"
    log = Path(str(run.url)).read_text(encoding="utf-8")
    records = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "runs").glob("*.json"))
    assert "trainer:***@db.internal" in log
    for text in (log, records, str(run.error)):
        assert "hunter2" not in text and "s3cret" not in text


def test_local_runner_refuses_what_it_cannot_do(package: Path) -> None:
    runner = ORCHESTRATORS.open("kfp-local")
    with pytest.raises(ConfigError, match="local directory"):
        runner.submit(PipelineSubmission(package, {}, "tiny", pipeline_root="gs://b/root"))
    with pytest.raises(ConfigError, match="cannot schedule"):
        runner.schedule(PipelineSubmission(package, {}, "tiny", pipeline_root="/tmp"), "0 3 * * *")


def test_kubeflow_run_request(package: Path) -> None:
    from mlops_kit.orchestrators.kubeflow import KubeflowRunner

    runner = ORCHESTRATORS.open("kfp+https://kfp.internal.example:8443/")
    assert isinstance(runner, KubeflowRunner)
    submission = PipelineSubmission(
        package, {"x": 3}, "tiny-3", pipeline_root="gs://bucket/runs", service_account="sa@p"
    )
    body = runner.run_request(submission, experiment_id="e1")
    assert body["display_name"] == "tiny-3"
    assert body["experiment_id"] == "e1"
    assert body["runtime_config"] == {"parameters": {"x": 3}, "pipeline_root": "gs://bucket/runs"}
    assert body["service_account"] == "sa@p"
    assert body["pipeline_spec"]["pipelineInfo"]["name"] == "tiny"
    recurring = runner.recurring_run_request(submission, "30 2 * * 1", max_concurrency=2)
    assert recurring["trigger"] == {"cron_schedule": {"cron": "0 30 2 * * 1"}}
    assert recurring["max_concurrency"] == "2"
    assert recurring["pipeline_spec"] == body["pipeline_spec"]
    # Refused before any request: no server answers at this host.
    with pytest.raises(ConfigError, match="malformed cron"):
        runner.schedule(submission, "every monday")


def test_kubeflow_unreachable_is_one_line(package: Path) -> None:
    runner = ORCHESTRATORS.open("kfp+http://127.0.0.1:9")
    with pytest.raises(BackendError, match="unreachable"):
        runner.list_runs()


def test_vertex_pipeline_job_request(package: Path) -> None:
    from google.auth.credentials import AnonymousCredentials

    from mlops_kit.orchestrators.vertex import VertexRunner

    runner = ORCHESTRATORS.open("vertex://acme-ml-dev/europe-west4")
    assert isinstance(runner, VertexRunner)
    submission = PipelineSubmission(
        package, {"x": 5}, "tiny-5", pipeline_root="gs://bucket/runs", labels={"env": "dev"}
    )
    job = runner.pipeline_job(submission, credentials=AnonymousCredentials())
    request = job.to_dict()
    assert request["displayName"] == "tiny-5"
    assert request["labels"] == {"env": "dev"}
    assert request["runtimeConfig"]["gcsOutputDirectory"] == "gs://bucket/runs"
    assert request["runtimeConfig"]["parameterValues"] == {"x": 5}
    assert request["pipelineSpec"]["pipelineInfo"]["name"] == "tiny"
    assert job.project == "acme-ml-dev" and job.location == "europe-west4"
    with pytest.raises(ConfigError, match="gs:// pipeline root"):
        runner.pipeline_job(PipelineSubmission(package, {}, "t", pipeline_root="/tmp/x"))


def test_a_run_refused_before_its_tasks_is_recorded_as_failed(
    package: Path, tmp_path: Path
) -> None:
    runner = ORCHESTRATORS.open("kfp-local")
    submission = PipelineSubmission(package, {"y": 1}, "tiny", pipeline_root=str(tmp_path))
    with pytest.raises(ConfigError, match="does not take the arguments it was given"):
        runner.submit(submission)
    (recorded,) = runner.list_runs(pipeline_root=str(tmp_path))
    assert recorded.state == "FAILED"
    assert recorded.error is not None and recorded.error.startswith("TypeError: ")
    assert recorded.finished_at is not None


def test_vertex_schedule_request(package: Path) -> None:
    from google.auth.credentials import AnonymousCredentials

    runner = ORCHESTRATORS.open("vertex://acme-ml-dev/europe-west4")
    submission = PipelineSubmission(package, {"x": 7}, "tiny-weekly", pipeline_root="gs://b/runs")
    schedule = runner.pipeline_job_schedule(submission, credentials=AnonymousCredentials())
    request = schedule.to_dict()
    assert request["displayName"] == "tiny-weekly"
    create = request["createPipelineJobRequest"]
    assert create["parent"] == "projects/acme-ml-dev/locations/europe-west4"
    assert create["pipelineJob"]["runtimeConfig"]["parameterValues"] == {"x": 7}
    assert create["pipelineJob"]["runtimeConfig"]["gcsOutputDirectory"] == "gs://b/runs"
    assert create["pipelineJob"]["pipelineSpec"]["pipelineInfo"]["name"] == "tiny"
    with pytest.raises(ConfigError, match="malformed cron"):
        runner.schedule(submission, "at noon")
