"""The Vertex AI orchestrator against the twin's Vertex AI: submit, schedule and list runs.

The real ``aiplatform.PipelineJob`` and ``PipelineJobSchedule``, configured by nothing but the
environment's ``vertex://`` URI, dial ``europe-west1-aiplatform.googleapis.com`` over gRPC: the
twin's gRPC hosts answer from the Vertex fake's state.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from mlops_kit.errors import BackendError
from mlops_kit.orchestrators import ORCHESTRATORS, PipelineSubmission
from tests.cloud_twin.twin import BUCKET, PROJECT, REGION, CloudTwin
from tests.pipelines.tiny import compile_tiny_pipeline


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_tiny_pipeline(tmp_path_factory.mktemp("compiled"))


@pytest.fixture
def vertex(cloud_twin: CloudTwin) -> Iterator[Any]:
    """The twin's Vertex AI."""
    assert cloud_twin.vertex is not None
    yield cloud_twin.vertex
    cloud_twin.vertex.refusal = None


def _submission(package: Path, name: str) -> PipelineSubmission:
    # The environment's bucket exists: the SDK asks Resource Manager (the twin's gRPC hosts) for
    # the project's number to check who owns it.
    return PipelineSubmission(
        package,
        {"x": 5},
        name,
        pipeline_root=f"gs://{BUCKET}/pipeline-root",
        service_account="runner@twin-project.iam.gserviceaccount.com",
        labels={"env": "twin"},
    )


def test_submit_creates_a_pipeline_job_and_runs_lists_it(package: Path, vertex: Any) -> None:
    runner = ORCHESTRATORS.open(f"vertex://{PROJECT}/{REGION}")
    submission = _submission(package, "tiny-5")
    run = runner.submit(submission)
    assert run.state == "PENDING" and run.name == "tiny-5"
    assert run.run_id.startswith(f"projects/{PROJECT}/locations/{REGION}/pipelineJobs/")
    ((path, job),) = [(p, b) for m, p, b in vertex.requests if m == "POST"]
    assert urlsplit(path).path == f"/v1/projects/{PROJECT}/locations/{REGION}/pipelineJobs"
    job_id = f"tiny-5-{submission.submission_id}"
    assert parse_qs(urlsplit(path).query)["pipelineJobId"] == [job_id]
    assert run.run_id == f"projects/{PROJECT}/locations/{REGION}/pipelineJobs/{job_id}"
    assert job["displayName"] == "tiny-5"
    assert job["serviceAccount"] == "runner@twin-project.iam.gserviceaccount.com"
    assert job["labels"]["env"] == "twin"
    assert job["runtimeConfig"]["gcsOutputDirectory"] == f"gs://{BUCKET}/pipeline-root"
    assert job["runtimeConfig"]["parameterValues"] == {"x": 5}
    assert job["pipelineSpec"]["pipelineInfo"]["name"] == "tiny"

    # The SDK would name a job after the pipeline and the second it is submitted, and refuse a
    # second run within that second (409): the kit's own job id keeps both.
    runner.submit(_submission(package, "other"))
    runner.submit(_submission(package, "other"))
    listed = runner.list_runs(name="tiny-5")
    assert [(r.run_id, r.name, r.state) for r in listed] == [(run.run_id, "tiny-5", "PENDING")]
    (listing,) = [p for m, p, _ in vertex.requests if m == "GET" and p.split("?")[0].endswith("s")]
    assert parse_qs(urlsplit(listing).query)["filter"] == ['display_name="tiny-5"']
    # The twin lives for the session: other tests' jobs may be listed too.
    assert [r.name for r in runner.list_runs()].count("other") >= 2


def test_job_ids_follow_vertex_rules() -> None:
    from mlops_kit.orchestrators.vertex import job_id

    submission = PipelineSubmission(Path("p.yaml"), {}, "42 Churn_Model training" + "x" * 200)
    made = job_id(submission)
    assert len(made) == 128 and made.endswith(f"-{submission.submission_id}")
    assert made.startswith("run-42-churn-model-training")
    assert all(c.islower() or c.isdigit() or c == "-" for c in made)


def test_schedule_creates_a_vertex_schedule(package: Path, vertex: Any) -> None:
    runner = ORCHESTRATORS.open(f"vertex://{PROJECT}/{REGION}")
    recurring = runner.schedule(_submission(package, "tiny-weekly"), "0 3 * * 1", 2)
    assert recurring.schedule_id.startswith(f"projects/{PROJECT}/locations/{REGION}/schedules/")
    (schedule,) = vertex.posted("/schedules")
    assert schedule["displayName"] == "tiny-weekly"
    assert schedule["cron"] == "0 3 * * 1"
    assert schedule["maxConcurrentRunCount"] == "2"
    create = schedule["createPipelineJobRequest"]
    assert create["parent"] == f"projects/{PROJECT}/locations/{REGION}"
    assert create["pipelineJob"]["serviceAccount"] == "runner@twin-project.iam.gserviceaccount.com"
    assert create["pipelineJob"]["runtimeConfig"]["parameterValues"] == {"x": 5}


def test_a_refused_submission_is_one_line(package: Path, vertex: Any) -> None:
    vertex.refusal = "Permission 'aiplatform.pipelineJobs.create' denied"
    runner = ORCHESTRATORS.open(f"vertex://{PROJECT}/{REGION}")
    with pytest.raises(BackendError) as refused:
        runner.submit(_submission(package, "tiny-5"))
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"Vertex AI Pipelines in {PROJECT}/{REGION} refused the request")
    assert "pipelineJobs.create' denied" in message
