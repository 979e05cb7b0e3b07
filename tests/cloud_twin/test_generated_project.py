"""A project generated for the cloud twin: its default source, its runs on Kubeflow and Vertex AI.

``mlops-kit new --env twin`` writes ``configs/twin.yaml`` with the template's cloud default,
``source: table:PROJECT.DATASET_source.customers``; the snapshot step reads it from the twin's
BigQuery (a project-qualified name with hyphens, read once), and ``pipeline run`` submits to the
twin's Kubeflow Pipelines and Vertex AI without a secret in the run parameters.

End to end, every step of the generated pipeline (snapshot, validate, train, evaluate, register,
gate, deploy) runs under kfp.local against the twin's BigQuery, Cloud Storage and Cloud SQL, then
the champion's predictions stream into BigQuery and ``monitor report``/``check`` run there; the
same pipeline on the local twin (DuckDB, a folder, SQLite) with the same rows gives the same
fingerprint, evaluation, report and verdict.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_kit.environments import Environment
from mlops_kit.kit import Kit
from mlops_kit.orchestrators import ORCHESTRATORS, PipelineSubmission
from mlops_kit.pipelines.components.snapshot import snapshot_data
from mlops_kit.pipelines.demo import churn_frame, write_demo_data
from mlops_kit.pipelines.project import PipelineProject
from tests.cloud_twin.twin import BUCKET, PROJECT, REGION, CloudTwin
from tests.data.conftest import CHURN_V1

pytestmark = pytest.mark.postgres
ROWS = 1200
DIGEST = "sha256:" + "ab" * 32
TRAFFIC_START = datetime(2026, 11, 20, 0, 5, tzinfo=UTC)
TRAFFIC_END = TRAFFIC_START + timedelta(days=1)


@pytest.fixture
def generated(cloud_twin: CloudTwin, project_dir: Path, run_cli, monkeypatch) -> Path:  # type: ignore[no-untyped-def]
    # The twin's Cloud SQL database lives as long as the session: a name of its own for every test
    # keeps the datasets and models of the other tests out of this one.
    name = f"twin-{uuid.uuid4().hex[:8]}"
    created = run_cli("--env", "twin", "new", name)
    assert created.exit_code == 0, created.stderr
    monkeypatch.chdir(project_dir / name)
    return project_dir / name


def test_the_default_cloud_source_snapshots_from_the_twin(  # type: ignore[no-untyped-def]
    cloud_twin: CloudTwin, generated: Path, capsys
) -> None:
    config = yaml.safe_load((generated / "configs/twin.yaml").read_text(encoding="utf-8"))
    source, dataset = config["source"], config["dataset"]
    assert source == f"table:{PROJECT}.{dataset}_source.customers"
    assert cloud_twin.bigquery is not None
    cloud_twin.bigquery.create_dataset(PROJECT, f"{dataset}_source")
    cloud_twin.bigquery.db.execute(
        f'CREATE OR REPLACE TABLE "{PROJECT}"."{dataset}_source"."customers" AS {CHURN_V1}'
    )
    environment = cloud_twin.environment().run_parameter()
    with Kit.open("twin") as kit:
        from mlops_kit.db import migrate

        migrate.upgrade(kit.metadata)
    first = snapshot_data(environment, dataset, source, "")
    query = f"query:SELECT * FROM `{PROJECT}.{dataset}_source.customers` WHERE tenure > 60"
    second = snapshot_data(environment, f"{dataset}_long", query, "")
    assert first.startswith(f"{dataset}@") and second.startswith(f"{dataset}_long@")
    with Kit.open("twin") as kit:
        from mlops_kit import data

        assert data.get_version(kit, first).row_count == 3000
        assert data.get_version(kit, second).row_count == 492
        assert data.get_version(kit, first).source == source


@pytest.mark.parametrize("environment", ["twin", "twin-vertex"])
def test_pipeline_run_submits_without_a_secret(  # type: ignore[no-untyped-def]
    cloud_twin: CloudTwin, generated: Path, run_cli, environment: str
) -> None:
    configs = generated / "configs"
    if not (configs / f"{environment}.yaml").exists():  # a second cloud environment, as users add
        (configs / f"{environment}.yaml").write_text(
            (configs / "twin.yaml").read_text(encoding="utf-8"), encoding="utf-8"
        )
    result = run_cli("--env", environment, "pipeline", "run", "--image-digest", DIGEST)
    assert result.exit_code == 0, result.stderr
    fake = cloud_twin.vertex if environment == "twin-vertex" else cloud_twin.kubeflow
    assert fake is not None
    (posted,) = [
        b for m, p, b in fake.requests if m == "POST" and ("/runs" in p or "pipelineJobs" in p)
    ]
    recorded = json.dumps(posted)
    assert "table:twin-project." in recorded
    assert f"@{DIGEST}" in recorded and ":latest" not in recorded
    assert cloud_twin.account in recorded or environment == "twin-vertex"
    for secret in ("password", "private_key", "access_token"):
        assert secret not in recorded


def test_a_vertex_run_waited_for_in_json_exits_non_zero_after_its_json(  # type: ignore[no-untyped-def]
    cloud_twin: CloudTwin, generated: Path, run_cli
) -> None:
    from mlops_kit.orchestrators import task_names

    vertex = cloud_twin.vertex
    assert vertex is not None
    configs = generated / "configs"
    (configs / "twin-vertex.yaml").write_text(
        (configs / "twin.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    on_vertex = ("--env", "twin-vertex", "pipeline")
    compiled = run_cli(*on_vertex, "compile", "--image-digest", DIGEST, "--format", "json")
    assert compiled.exit_code == 0, compiled.stderr
    tasks = task_names(Path(json.loads(compiled.stdout)["package"]))
    vertex.tasks, vertex.outcome = tasks, "FAILED"
    try:
        result = run_cli(
            *on_vertex,
            "run",
            "--image-digest",
            DIGEST,
            "--wait",
            "--interval",
            "0.01",
            "-f",
            "json",
        )
    finally:
        vertex.tasks, vertex.outcome = [], "SUCCEEDED"
    assert result.exit_code == 6
    failed = json.loads(result.stdout)
    assert failed["run_id"].startswith(f"projects/{PROJECT}/locations/{REGION}/pipelineJobs/")
    assert failed["orchestrator"].startswith(f"vertex://{PROJECT}/{REGION}")
    assert failed["url"].startswith("https://console.cloud.google.com/vertex-ai/locations/")
    assert (failed["state"], failed["error"]) == (
        "FAILED",
        f"The DAG failed because task {tasks[-1]} failed.",
    )
    # The tasks of the pipeline, as Vertex AI reports them (not the pipeline's own entry).
    assert failed["tasks"] == {**dict.fromkeys(tasks, "SUCCEEDED"), tasks[-1]: "FAILED"}
    assert failed["duration_seconds"] == 1230.0
    assert failed["parameters"]["source"].startswith(f"table:{PROJECT}.")
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: pipeline run {failed['run_id']} failed")


def _rounded(value: Any) -> Any:
    """``value`` with every float rounded to 9 significant digits (engines sum in other orders)."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _run_locally(project: PipelineProject, environment: Environment, root: Path, source: str):  # type: ignore[no-untyped-def]
    """Run the project's pipeline with kfp.local, its steps working on ``environment``."""
    config = project.config(environment.name)
    here = environment.model_copy(update={"orchestrator": "kfp-local"})
    arguments = {**project.arguments(environment, config), "source": source}
    submission = PipelineSubmission(
        package=project.compile(here, output=root / "pipeline.yaml"),
        arguments=arguments,
        run_name=project.run_name(config),
        pipeline_root=str(root / "runs"),
    )
    return ORCHESTRATORS.open("kfp-local").submit(submission, None)


def _serve_and_monitor(kit: Kit, project: PipelineProject, traffic: Any) -> dict[str, Any]:
    """Log the champion's predictions of ``traffic`` with outcomes; the report and check."""
    from mlops_kit import models
    from mlops_kit.monitoring import (
        MonitoringSpec,
        PredictionLogger,
        Window,
        build_report,
        log_ground_truth,
        run_check,
        watched_model,
    )

    config = project.config("twin")
    champion = models.get_version(kit, f"{config.model_name}@production")
    predicted = models.load_model(kit, champion.ref).predict(traffic)
    with PredictionLogger(kit, config.model_name, champion.version, batch_size=100) as logger:
        for i, (row, label) in enumerate(zip(traffic.to_dict("records"), predicted, strict=True)):
            logger.log(
                f"{config.model_name}-{i}",
                row,
                label,
                timestamp=TRAFFIC_START + timedelta(minutes=3 * i),
            )
    outcomes = dict(enumerate(traffic[config.target]))
    labels = {f"{config.model_name}-{i}": v for i, v in outcomes.items()}
    log_ground_truth(kit, labels, timestamp=TRAFFIC_END)
    spec = MonitoringSpec.load(project.root / "monitoring.yaml")
    report = build_report(
        kit,
        watched_model(kit, spec.model),
        slices=spec.slices,
        window=Window.last("1d", TRAFFIC_END),
        task=spec.task,
        labels=spec.labels,
    )
    result = run_check(kit, report, spec, retrain=False)
    return {
        "champion": champion.ref,
        "evaluation": [champion.metrics, champion.slices],
        "report": report.to_dict(),
        "check": [str(v) for v in result.violations],
    }


@pytest.mark.slow
def test_every_step_runs_on_the_twin_with_the_local_twins_numbers(  # type: ignore[no-untyped-def]
    cloud_twin: CloudTwin, generated: Path, tmp_path: Path
) -> None:
    from mlops_kit import data, models
    from mlops_kit.db import migrate

    assert cloud_twin.bigquery is not None and cloud_twin.storage is not None
    configs = generated / "configs"
    twin_config = configs / "twin.yaml"
    twin_config.write_text(
        # Quick (the point is the path, not the model), and deploying the champion.
        twin_config.read_text(encoding="utf-8")
        .replace("deploy: false", "deploy: true")
        .replace("max_iter: 300", "max_iter: 40"),
        encoding="utf-8",
    )
    project = PipelineProject.discover(generated)
    config = project.config("twin")
    rows = write_demo_data(tmp_path / "customers.parquet", rows=ROWS)
    cloud_twin.bigquery.create_dataset(PROJECT, f"{config.dataset}_source")
    cloud_twin.bigquery.db.execute(
        f'CREATE OR REPLACE TABLE "{PROJECT}"."{config.dataset}_source"."customers" AS '
        f"SELECT * FROM read_parquet('{rows}')"
    )
    cloud = cloud_twin.environment()
    with Kit(cloud) as kit:
        migrate.upgrade(kit.metadata)
    (tmp_path / "local").mkdir()
    local = Environment(
        name="twin",
        warehouse=f"duckdb://{tmp_path / 'local' / 'warehouse.duckdb'}",
        artifacts=(tmp_path / "local" / "artifacts").as_uri(),
        metadata=f"sqlite:///{tmp_path / 'local' / 'metadata.db'}",
        orchestrator="kfp-local",
    )
    with Kit(local) as kit:
        migrate.upgrade(kit.metadata)

    # kfp.local runs the tasks in this interpreter, in no image, so the deploy step moves the alias
    # (the local target) instead of rolling an image out on GKE (tests/cloud_twin/test_gke_deploy.py).
    on_cloud = _run_locally(
        project, cloud.model_copy(update={"deploy": "local"}), tmp_path / "cloud-run", config.source
    )
    on_local = _run_locally(project, local, tmp_path / "local-run", str(rows))
    assert on_cloud.state == on_local.state == "SUCCEEDED", on_cloud.error or on_local.error

    traffic = churn_frame(400, seed=11)
    with Kit(cloud) as kit:
        dataset = data.get_version(kit, f"{config.dataset}@1")
        assert dataset.source == config.source and dataset.storage.startswith(PROJECT)
        version = models.get_version(kit, f"{config.model_name}@champion")
        assert version.datasets == [dataset.ref]
        assert version.artifact_uri.startswith(f"gs://{BUCKET}/models/")
        cloud_numbers = _serve_and_monitor(kit, project, traffic)
    with Kit(local) as kit:
        local_dataset = data.get_version(kit, f"{config.dataset}@1")
        local_numbers = _serve_and_monitor(kit, project, traffic)

    # The same rows: the same fingerprint, model, evaluation, report and verdict on both twins.
    assert dataset.fingerprint == local_dataset.fingerprint
    assert json.loads(on_cloud.outputs["Output"]) == json.loads(on_local.outputs["Output"])
    assert _rounded(cloud_numbers) == _rounded(local_numbers)
    report = cloud_numbers["report"]
    assert report["logged"] == report["labelled"] == 400
    assert {s["column"] for s in report["slices"]} >= {"overall", "hour_of_day", "contract"}
    # Every step reached the twin's Google APIs: BigQuery jobs and streaming inserts, Cloud
    # Storage uploads of the model, Cloud SQL logins.
    paths = [p for _m, p, _b in cloud_twin.bigquery.requests]
    assert any(p.split("?")[0].endswith("/insertAll") for p in paths)
    assert any("/jobs" in p for p in paths)
