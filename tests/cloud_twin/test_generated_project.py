"""A project generated for the cloud twin: its default source, its runs on Kubeflow and Vertex AI.

``mlops-kit new --env twin`` writes ``configs/twin.yaml`` with the template's cloud default,
``source: table:PROJECT.DATASET_source.customers``; the snapshot step reads it from the twin's
BigQuery (a project-qualified name with hyphens, read once), and ``pipeline run`` submits to the
twin's Kubeflow Pipelines and Vertex AI without a secret in the run parameters.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mlops_kit.kit import Kit
from mlops_kit.pipelines.components.snapshot import snapshot_data
from tests.cloud_twin.twin import PROJECT, CloudTwin
from tests.data.conftest import CHURN_V1

pytestmark = pytest.mark.postgres


@pytest.fixture
def generated(cloud_twin: CloudTwin, project_dir: Path, run_cli, monkeypatch) -> Path:  # type: ignore[no-untyped-def]
    created = run_cli("--env", "twin", "new", "twin-churn")
    assert created.exit_code == 0, created.stderr
    monkeypatch.chdir(project_dir / "twin-churn")
    return project_dir / "twin-churn"


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
    result = run_cli("--env", environment, "pipeline", "run")
    assert result.exit_code == 0, result.stderr
    fake = cloud_twin.vertex if environment == "twin-vertex" else cloud_twin.kubeflow
    assert fake is not None
    (posted,) = [
        b for m, p, b in fake.requests if m == "POST" and ("/runs" in p or "pipelineJobs" in p)
    ]
    recorded = json.dumps(posted)
    assert "table:twin-project." in recorded
    assert cloud_twin.account in recorded or environment == "twin-vertex"
    for secret in ("password", "private_key", "access_token"):
        assert secret not in recorded
