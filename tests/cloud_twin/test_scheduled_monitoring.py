"""``monitor schedule``: a KFP recurring run or a Vertex AI schedule of the monitoring pipeline, or
the cron line on the local twin.

The real ``kfp_server_api`` client and google-cloud-aiplatform talk to the twin's fakes; the
requests they send are what the real APIs receive.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cloud_twin.twin import CloudTwin

pytestmark = pytest.mark.postgres

DIGEST = "sha256:" + "ef" * 32
CHAT = "notifications:\n  - {name: chat, webhook: '${CHAT_WEBHOOK}', body: text}\n"


@pytest.fixture
def generated(cloud_twin: CloudTwin, project_dir: Path, run_cli, monkeypatch) -> Path:  # type: ignore[no-untyped-def]
    created = run_cli("--env", "twin", "new", "twin-shop")
    assert created.exit_code == 0, created.stderr
    project = project_dir / "twin-shop"
    configs = project / "configs"
    # A cluster runs the check in the project's image by digest: the build CI attested.
    config = yaml.safe_load((configs / "twin.yaml").read_text(encoding="utf-8"))
    config["image"] = f"{config['image']}@{DIGEST}"
    for name in ("twin.yaml", "twin-vertex.yaml"):
        (configs / name).write_text(yaml.safe_dump(config), encoding="utf-8")
    with (project / "monitoring.yaml").open("a", encoding="utf-8") as spec:
        spec.write(CHAT)
    monkeypatch.chdir(project)
    return project


def _one_step(pipeline: dict[str, Any]) -> dict[str, Any]:
    (executor,) = pipeline["deploymentSpec"]["executors"].values()
    assert pipeline["pipelineInfo"]["name"] == "twin-shop-monitoring"
    return dict(executor["container"])


def test_on_kubeflow_the_check_becomes_a_recurring_run(  # type: ignore[no-untyped-def]
    cloud_twin: CloudTwin, generated: Path, run_cli
) -> None:
    result = run_cli("--env", "twin", "monitor", "schedule", "--cron", "0 6 * * *")

    assert result.exit_code == 0, result.stderr
    assert "schedule twin-shop-monitoring (0 6 * * *) created" in result.stdout
    assert cloud_twin.kubeflow is not None
    (body,) = [
        b for m, p, b in cloud_twin.kubeflow.requests if m == "POST" and "recurringruns" in p
    ]
    assert body["display_name"] == "twin-shop-monitoring"
    assert body["trigger"] == {"cron_schedule": {"cron": "0 0 6 * * *"}}
    assert (body["max_concurrency"], body["mode"], body["no_catchup"]) == ("1", "ENABLE", True)
    container = _one_step(body["pipeline_spec"])
    config = yaml.safe_load((generated / "configs/twin.yaml").read_text(encoding="utf-8"))
    assert container["image"] == config["image"]
    assert container["image"].endswith(f"/twin-shop@{DIGEST}")
    assert "pip install" not in json.dumps(container)
    parameters = body["runtime_config"]["parameters"]
    spec = json.loads(parameters["spec"])
    assert spec["model"] == "twin-shop@champion"
    assert spec["notifications"][0]["webhook"] == "${CHAT_WEBHOOK}"
    assert json.loads(parameters["environment"])["name"] == "twin"


def test_on_vertex_the_check_becomes_a_schedule(  # type: ignore[no-untyped-def]
    cloud_twin: CloudTwin, generated: Path, run_cli
) -> None:
    result = run_cli("monitor", "schedule", "--cron", "30 5 * * 1-5", "--env", "twin-vertex")

    assert result.exit_code == 0, result.stderr
    assert cloud_twin.vertex is not None
    (schedule,) = cloud_twin.vertex.posted("/schedules")
    assert (schedule["displayName"], schedule["cron"]) == ("twin-shop-monitoring", "30 5 * * 1-5")
    assert schedule["maxConcurrentRunCount"] == "1"
    job = schedule["createPipelineJobRequest"]["pipelineJob"]
    _one_step(job["pipelineSpec"])
    assert json.loads(job["runtimeConfig"]["parameterValues"]["spec"])["model"] == (
        "twin-shop@champion"
    )
    assert job["labels"]["job"] == "monitoring"


def test_a_literal_webhook_url_is_never_put_in_a_schedule(  # type: ignore[no-untyped-def]
    cloud_twin: CloudTwin, generated: Path, run_cli
) -> None:
    spec = generated / "monitoring.yaml"
    spec.write_text(
        spec.read_text(encoding="utf-8").replace("${CHAT_WEBHOOK}", "https://chat.example/s3cret"),
        encoding="utf-8",
    )
    result = run_cli("--env", "twin", "monitor", "schedule", "--cron", "0 6 * * *")

    assert result.exit_code == 2
    assert "notification channel 'chat' has a literal webhook URL" in result.stderr
    assert cloud_twin.kubeflow is not None
    assert not [p for m, p, _ in cloud_twin.kubeflow.requests if "recurringruns" in p]


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("weekly", "malformed cron expression 'weekly'"),
        ("61 * * * *", "malformed cron expression '61 * * * *'"),
        ("0 6 * * * ; rm -rf /", "malformed cron expression"),
    ],
)
def test_a_malformed_cron_expression_is_one_line(  # type: ignore[no-untyped-def]
    project_dir: Path, run_cli, cron: str, message: str
) -> None:
    result = run_cli("monitor", "schedule", "--cron", cron)
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_the_local_twin_prints_the_line_for_cron(project_dir: Path, run_cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from mlops_kit.orchestrators import ORCHESTRATORS

    assert not ORCHESTRATORS.resolve("kfp-local").can_schedule
    assert run_cli("new", "local-shop").exit_code == 0
    project = project_dir / "local-shop"
    monkeypatch.chdir(project)
    hostile = "night & day's $(spec).yaml"
    (project / hostile).write_text((project / "monitoring.yaml").read_text(encoding="utf-8"))

    result = run_cli("monitor", "schedule", "--cron", "0  6 * * *", "--spec", hostile)

    assert result.exit_code == 0, result.stderr
    assert "local (kfp-local) cannot schedule" in result.stdout
    line = result.stdout.strip().splitlines()[-1]
    # The spec's name is quoted for the shell: cron runs the check, and nothing else.
    assert line == (
        f"0 6 * * * cd {project} && mlops-kit --env local monitor check --spec "
        "'night & day'\"'\"'s $(spec).yaml'"
    )
