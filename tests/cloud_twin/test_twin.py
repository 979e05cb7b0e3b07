"""The cloud twin as a whole: its environment files, doctor on it, the prediction log's streaming
inserts, BigQuery's metadata, dry runs and billing limit, and the script for people."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mlops_kit.db import migrate
from mlops_kit.doctor import run_checks
from mlops_kit.environments import ROLES
from mlops_kit.errors import BackendError
from mlops_kit.kit import Kit
from mlops_kit.monitoring import PredictionLogger, log_ground_truth
from tests.cloud_twin.twin import (
    BUCKET,
    DATASET,
    MONITORING_DATASET,
    PROJECT,
    CloudTwin,
    start_twin,
)

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).parents[2]


def _hosts(uri: str) -> list[str]:
    """The hosts a URI points at, the Cloud SQL Admin API endpoint in its query included."""
    parts = urlsplit(uri)
    hosts = [parts.hostname or ""]
    hosts += [urlsplit(v).hostname or "" for v in parts.query.split("=") if "://" in v]
    return hosts


def test_the_environment_files_name_cloud_schemes_on_loopback(
    cloud_twin: CloudTwin, project_dir: Path
) -> None:
    for name, orchestrator in (("twin", "kfp+http"), ("twin-vertex", "vertex")):
        with Kit.open(name) as kit:
            uris = kit.environment.role_uris()
        schemes = [urlsplit(uris[role]).scheme for role in ROLES]
        assert schemes == ["bigquery", "gs", "cloudsql", orchestrator]
        assert uris["warehouse"] == f"bigquery://{PROJECT}/{DATASET}"
        assert uris["artifacts"] == f"gs://{BUCKET}/models"
        for host in [*_hosts(uris["metadata"]), *_hosts(uris["orchestrator"])[:1]]:
            assert host in ("127.0.0.1", PROJECT, "twin-project:europe-west1:mlops-twin-metadata")
    for name, value in cloud_twin.environ().items():
        if name.endswith("_HOST"):
            assert urlsplit(value).hostname == "127.0.0.1", name


def test_doctor_checks_every_role_on_the_twin(cloud_twin: CloudTwin, project_dir: Path) -> None:
    with Kit.open("twin") as kit:
        migrate.upgrade(kit.metadata)  # a fresh twin's database is empty, as a new instance is
        checks = {check.role: check for check in run_checks(kit)}
    assert all(check.ok for check in checks.values()), [c.detail for c in checks.values()]
    assert checks["warehouse"].detail == f"BigQuery dataset {PROJECT}:{DATASET} in US"
    assert checks["artifacts"].detail.startswith(f"bucket gs://{BUCKET} ")
    assert checks["artifacts"].detail.endswith(", writable")
    # The write probe leaves nothing behind.
    from google.cloud import storage

    names = [blob.name for blob in storage.Client(project=PROJECT).list_blobs(BUCKET)]
    assert not [name for name in names if "doctor-probe-" in name]
    assert checks["orchestrator"].detail.startswith(
        "Kubeflow Pipelines 01234567 at http://127.0.0.1"
    )
    with Kit.open("twin-vertex") as kit:
        (vertex,) = [c for c in run_checks(kit) if c.role == "orchestrator"]
    assert vertex.ok and vertex.detail == f"Vertex AI Pipelines in {PROJECT}/europe-west1"


def test_doctor_names_a_missing_dataset_and_bucket_in_one_line(
    cloud_twin: CloudTwin, project_dir: Path
) -> None:
    environment = cloud_twin.environment().model_copy(
        update={"warehouse": f"bigquery://{PROJECT}/nowhere", "artifacts": "gs://no-such-bucket/m"}
    )
    with Kit(environment) as kit:
        checks = {check.role: check for check in run_checks(kit)}
    assert not checks["warehouse"].ok and not checks["artifacts"].ok
    assert checks["warehouse"].detail.startswith(f"cannot reach BigQuery dataset {PROJECT}.nowhere")
    assert "Not found: Dataset" in checks["warehouse"].detail
    assert checks["artifacts"].detail.startswith("cannot reach bucket gs://no-such-bucket")
    assert all("\n" not in check.detail for check in checks.values())


def test_doctor_names_an_unmigrated_database_and_a_dead_orchestrator_in_one_line(
    cloud_twin: CloudTwin, project_dir: Path, tmp_path: Path
) -> None:
    environment = cloud_twin.environment().model_copy(
        update={
            "metadata": f"sqlite:///{tmp_path / 'new.db'}",
            "orchestrator": "kfp+http://127.0.0.1:9",
        }
    )
    with Kit(environment) as kit:
        checks = {check.role: check for check in run_checks(kit)}
    assert checks["warehouse"].ok and checks["artifacts"].ok
    assert not checks["metadata"].ok and not checks["orchestrator"].ok
    assert checks["metadata"].detail.startswith("metadata schema is at nothing")
    assert "run `mlops-kit db upgrade`" in checks["metadata"].detail
    assert "127.0.0.1:9" in checks["orchestrator"].detail
    vertex = cloud_twin.environment("twin-vertex")
    assert cloud_twin.vertex is not None
    cloud_twin.vertex.refusal = "Permission 'aiplatform.pipelineJobs.list' denied"
    try:
        with Kit(vertex) as kit:
            (refused,) = [c for c in run_checks(kit) if c.role == "orchestrator"]
    finally:
        cloud_twin.vertex.refusal = None
    assert not refused.ok and "pipelineJobs.list' denied" in refused.detail
    assert all("\n" not in c.detail for c in [*checks.values(), refused])


def test_predictions_and_outcomes_stream_into_bigquery(
    cloud_twin: CloudTwin, tmp_path: Path
) -> None:
    assert cloud_twin.bigquery is not None
    environment = cloud_twin.environment().model_copy(
        update={"metadata": f"sqlite:///{tmp_path / 'm.db'}"}
    )
    stamp = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    with Kit(environment) as kit:
        with PredictionLogger(kit, "churn-stream", 3, batch_size=2) as logger:
            for i in range(3):
                logger.log(
                    f"req-{i}",
                    {"tenure": i, "plan": "year"},
                    i % 2,
                    score=0.25 * i,
                    timestamp=stamp,
                )
        assert log_ground_truth(kit, {"req-0": 0, "req-1": 1}, timestamp=stamp) == 2
    inserts = [
        (path, body)
        for method, path, body in cloud_twin.bigquery.requests
        if method == "POST" and path.split("?")[0].endswith("/insertAll")
    ]
    tables = [path.split("?")[0].split("/")[-2] for path, _ in inserts]
    assert tables[-1] == "ground_truth" and set(tables[:-1]) == {"prediction_log"}
    assert inserts[0][0].startswith(
        f"/bigquery/v2/projects/{PROJECT}/datasets/{MONITORING_DATASET}/"
    )
    assert all(row["insertId"] for _, body in inserts for row in body["rows"])
    logged = [
        row
        for row in cloud_twin.bigquery.rows(f"{PROJECT}.{MONITORING_DATASET}.prediction_log")
        if row["model_name"] == "churn-stream"
    ]
    assert sorted((r["request_id"], r["prediction"], r["score"]) for r in logged) == [
        ("req-0", "0", 0.0),
        ("req-1", "1", 0.25),
        ("req-2", "0", 0.5),
    ]
    assert {r["logged_at"] for r in logged} == {stamp}
    outcomes = cloud_twin.bigquery.rows(f"{PROJECT}.{MONITORING_DATASET}.ground_truth")
    assert {("req-0", "0"), ("req-1", "1")} <= {(r["request_id"], r["label"]) for r in outcomes}


def test_a_refused_streaming_insert_is_one_line(cloud_twin: CloudTwin, tmp_path: Path) -> None:
    environment = cloud_twin.environment().model_copy(
        update={
            "metadata": f"sqlite:///{tmp_path / 'm.db'}",
            "prediction_log_table": f"{PROJECT}.nowhere.prediction_log",
        }
    )
    with Kit(environment) as kit, pytest.raises(BackendError) as refused:
        log_ground_truth(kit, {"req-0": 0})
    assert "\n" not in str(refused.value)
    assert "cannot write to BigQuery table" in str(refused.value)


def test_bigquery_metadata_dry_runs_and_the_billing_limit(cloud_twin: CloudTwin) -> None:
    from google.api_core import exceptions
    from google.cloud import bigquery

    assert cloud_twin.bigquery is not None
    client = bigquery.Client(project=PROJECT)  # BIGQUERY_EMULATOR_HOST and the twin's key
    table = bigquery.Table(
        f"{PROJECT}.{DATASET}.billing_probe",
        schema=[bigquery.SchemaField("id", "INT64"), bigquery.SchemaField("name", "STRING")],
    )
    client.delete_table(table, not_found_ok=True)
    client.create_table(table)
    assert "billing_probe" in [t.table_id for t in client.list_tables(f"{PROJECT}.{DATASET}")]
    rows = [{"id": i, "name": "x" * 98} for i in range(1000)]
    assert client.insert_rows_json(table, rows) == []
    errors = client.insert_rows_json(table, [{"id": 1, "colour": "red"}, {"id": 2}])
    assert errors[0]["errors"][0]["message"] == "no such field: colour."
    assert errors[1]["errors"][0]["reason"] == "stopped"
    fetched = client.get_table(table)
    assert fetched.num_rows == 1000 and [f.name for f in fetched.schema] == ["id", "name"]

    sql = f"SELECT name FROM `{PROJECT}.{DATASET}.billing_probe`"
    dry = client.query(sql, job_config=bigquery.QueryJobConfig(dry_run=True))
    assert dry.total_bytes_processed == 1000 * (2 + 98)
    assert dry.total_bytes_billed == 0
    job = client.query(sql)
    job.result()
    assert job.total_bytes_processed == 100_000
    assert job.total_bytes_billed == 10 * 1024 * 1024  # BigQuery's minimum
    with pytest.raises(exceptions.BadRequest) as refused:
        client.query(
            sql, job_config=bigquery.QueryJobConfig(maximum_bytes_billed=1024 * 1024)
        ).result()
    assert refused.value.errors[0]["reason"] == "bytesBilledLimitExceeded"
    assert "Query exceeded limit for bytes billed: 1048576. 10485760 or higher required." in str(
        refused.value
    )
    client.delete_table(table)


def test_the_script_starts_the_twin_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_XDIST_WORKER"}
    env["PYTHONPATH"] = str(ROOT)
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.cloud_twin", "--dir", str(tmp_path / "twin")],
        cwd=ROOT,
        env={**env, "PYTEST_XDIST_WORKER": "script"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "Ctrl-C" in line or line.startswith("error:"):
            break
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0, "".join(lines)
    text = "".join(lines)
    assert f"environment file: {tmp_path / 'twin' / 'environments' / 'twin.yaml'}" in text
    assert "export BIGQUERY_EMULATOR_HOST=http://127.0.0.1:" in text
    assert "export STORAGE_EMULATOR_HOST=http://127.0.0.1:" in text
    assert (tmp_path / "twin" / "environments" / "twin-vertex.yaml").is_file()


def test_a_fake_that_cannot_start_is_named_and_the_others_stop(tmp_path: Path) -> None:
    twin = start_twin(tmp_path / "twin", postgres_url="postgresql://postgres@127.0.0.1:9/test")
    try:
        assert list(twin.failures) == ["Cloud SQL (PostgreSQL)"]
        assert "127.0.0.1" in twin.failures["Cloud SQL (PostgreSQL)"]
        assert not (tmp_path / "twin" / "environments").exists()  # no file points at a half twin
    finally:
        twin.stop()
