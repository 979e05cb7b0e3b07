"""BigQuery cost guards: bytes processed from the job statistics, dry runs, a cap per query.

The real google-cloud-bigquery client talks to the twin's BigQuery REST fake, which reports
``totalBytesProcessed`` in each job's statistics, only estimates a ``dryRun`` job, and refuses a
query over its ``maximumBytesBilled`` as BigQuery does (400, reason ``bytesBilledLimitExceeded``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_kit import data
from mlops_kit.environments import Environment
from mlops_kit.errors import ConfigError, DryRunEnded, NotFoundError
from mlops_kit.kit import Kit
from tests.cloud_twin.bigquery import FakeBigQuery
from tests.data.conftest import CHURN_V1

PROJECT, DATASET = "proj", "ds"
LONG = f"SELECT * FROM `{PROJECT}.{DATASET}.customers` WHERE tenure > 60"


@pytest.fixture
def fake_bigquery(twin_credentials: Path) -> Iterator[FakeBigQuery]:
    """The fake with a table of customers; the twin's key file is the test's credentials."""
    fake = FakeBigQuery(PROJECT, (DATASET,)).start()
    fake.db.execute(f"CREATE TABLE {PROJECT}.{DATASET}.customers AS {CHURN_V1}")
    yield fake
    fake.stop()


def open_kit(tmp_path: Path, fake: FakeBigQuery, dry_run: bool = False, **settings: Any) -> Kit:
    """A kit on the fake's dataset (metadata on SQLite) with extra environment ``settings``.

    The warehouse URI names the fake's endpoint; the tests take the twin's key file.
    """
    tmp_path.mkdir(parents=True, exist_ok=True)
    environment = Environment(
        name="local",
        warehouse=f"bigquery://{PROJECT}/{DATASET}?api_endpoint={fake.endpoint}",
        artifacts=(tmp_path / "artifacts").as_uri(),
        metadata=f"sqlite:///{tmp_path / 'm.db'}",
        orchestrator="kfp-local",
        **settings,
    )
    kit = Kit(environment)
    if dry_run:
        kit.start_dry_run()
    return kit


def query_jobs(fake: FakeBigQuery) -> list[dict[str, Any]]:
    return [
        body["configuration"]["query"]
        for method, _path, body in fake.requests
        if method == "POST" and body and "query" in body.get("configuration", {})
    ]


def test_the_bytes_processed_come_from_the_job_statistics(tmp_path, fake_bigquery):
    kit = open_kit(tmp_path, fake_bigquery)
    assert kit.warehouse.bytes_processed is None  # nothing run yet
    data.snapshot(kit, "long", query=LONG)
    expected = sum(
        int(job["statistics"]["totalBytesProcessed"]) for job in fake_bigquery.jobs.values()
    )
    assert expected > 0 and kit.warehouse.bytes_processed == expected
    kit.close()


def test_a_dry_run_estimates_the_first_query_and_runs_nothing(tmp_path, fake_bigquery):
    kit = open_kit(tmp_path, fake_bigquery, dry_run=True)
    tables = fake_bigquery.tables(DATASET)
    with pytest.raises(DryRunEnded) as ended:
        data.snapshot(kit, "long", query=LONG)
    (job,) = query_jobs(fake_bigquery)
    estimate = fake_bigquery.bytes_processed(job["query"])
    assert f"would process {estimate:,} bytes" in str(ended.value)
    assert ended.value.exit_code == 0
    # Estimated, not run: no job kept, no table created, no version recorded.
    assert fake_bigquery.jobs == {} and fake_bigquery.tables(DATASET) == tables
    kit.close()
    with open_kit(tmp_path, fake_bigquery) as after, pytest.raises(NotFoundError):
        data.get_version(after, "long@1")


def test_a_query_over_max_bytes_per_query_fails_in_one_line_naming_the_setting(
    tmp_path, fake_bigquery
):
    kit = open_kit(tmp_path, fake_bigquery, max_bytes_per_query=1024 * 1024)
    with pytest.raises(ConfigError) as refused:
        data.snapshot(kit, "long", query=LONG)
    message = str(refused.value)
    assert "max_bytes_per_query = 1,048,576 bytes" in message and "\n" not in message
    assert all(job["maximumBytesBilled"] == str(1024 * 1024) for job in query_jobs(fake_bigquery))
    with pytest.raises(NotFoundError):
        data.get_version(kit, "long@1")
    # Under a cap it can afford, the same snapshot runs (BigQuery bills 10 MB at least).
    capped = open_kit(tmp_path / "again", fake_bigquery, max_bytes_per_query=100 * 1024 * 1024)
    assert data.snapshot(capped, "long", query=LONG).row_count == 492
    kit.close()
    capped.close()


@pytest.mark.parametrize("bad", [0, -5, "lots"])
def test_a_bad_cap_is_refused_when_the_environment_is_read(bad):
    with pytest.raises(ValueError, match="max_bytes_per_query"):
        Environment(
            name="x",
            warehouse="duckdb:///w.duckdb",
            artifacts="file:///a",
            metadata="sqlite:///m.db",
            orchestrator="kfp-local",
            max_bytes_per_query=bad,
        )


@pytest.fixture
def twin_table(cloud_twin: Any) -> Iterator[str]:
    """A table of the twin's BigQuery dataset, for the CLI to snapshot."""
    from tests.cloud_twin.twin import DATASET as TWIN_DATASET
    from tests.cloud_twin.twin import PROJECT as TWIN_PROJECT

    name = f"customers_{uuid.uuid4().hex[:8]}"
    cloud_twin.bigquery.db.execute(
        f'CREATE TABLE "{TWIN_PROJECT}"."{TWIN_DATASET}"."{name}" AS {CHURN_V1} LIMIT 50'
    )
    yield f"{TWIN_PROJECT}.{TWIN_DATASET}.{name}"
    cloud_twin.bigquery.db.execute(f'DROP TABLE "{TWIN_PROJECT}"."{TWIN_DATASET}"."{name}"')


def test_the_cli_prints_the_bytes_a_command_processed_and_a_dry_run_estimate(
    cloud_twin, twin_table, project_dir, run_cli
):
    warehouse = "bigquery://" + twin_table.rsplit(".", 1)[0].replace(".", "/")
    where = ["--warehouse", warehouse, "--metadata", f"sqlite:///{project_dir / 'm.db'}"]
    query = f"SELECT * FROM `{twin_table}`"

    dry = run_cli(*where, "--dry-run", "data", "snapshot", "c", "--query", query)
    assert dry.exit_code == 0, dry.stderr
    assert dry.stdout.startswith("dry run:") and "would process" in dry.stdout
    assert "error" not in dry.stderr

    done = run_cli(*where, "data", "snapshot", "c", "--query", query)
    assert done.exit_code == 0, done.stderr
    assert "warehouse queries processed" in done.stderr and " bytes" in done.stderr


def test_the_environment_cap_reaches_the_cli(cloud_twin, twin_table, project_dir, run_cli):
    name = f"capped-{uuid.uuid4().hex[:6]}"
    settings = cloud_twin.environment().model_dump(mode="json") | {
        "name": name,
        "metadata": f"sqlite:///{project_dir / 'm.db'}",
        "max_bytes_per_query": 1,
    }
    path = cloud_twin.environments_dir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    try:
        refused = run_cli(
            "--env", name, "data", "snapshot", "c", "--query", f"SELECT * FROM `{twin_table}`"
        )
    finally:
        path.unlink()
    assert refused.exit_code == 2
    (line,) = refused.stderr.strip().splitlines()
    assert "max_bytes_per_query = 1 bytes" in line
