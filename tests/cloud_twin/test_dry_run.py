"""``mlops-kit --dry-run`` on the twin's BigQuery environment changes nothing, whatever the command.

A command that would change the metadata database, the artifact store or the deploy target before
its first BigQuery query ends there, in one line; a command that reads still gets BigQuery's
estimate of its first query. The stores are the twin's: BigQuery and Cloud Storage fakes driven by
the real Google clients, the GKE fake, and the metadata on real SQLite or on the Cloud SQL
instance's real PostgreSQL.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mlops_kit import data, models
from mlops_kit.db import migrate
from mlops_kit.db.models import Base
from mlops_kit.deploy_targets import open_deploy_target
from mlops_kit.errors import DryRunEnded
from mlops_kit.kit import Kit
from mlops_kit.orchestrators import PipelineSubmission
from tests.cloud_twin.twin import DATASET, PROJECT, REGION, CloudTwin
from tests.data.conftest import CHURN_V1
from tests.models.conftest import train_classifier

MIRROR = f"vertex://{PROJECT}/{REGION}"
IMAGE = f"{REGION}-docker.pkg.dev/{PROJECT}/mlops/churn@sha256:" + "e" * 64


@pytest.fixture(params=["sqlite", "cloudsql"])
def metadata(request: pytest.FixtureRequest, tmp_path: Path) -> list[str]:
    """The overrides of the twin's environment: its Cloud SQL instance, or a SQLite file."""
    if request.param == "sqlite":
        return ["--metadata", f"sqlite:///{tmp_path / 'metadata.db'}"]
    return []


@pytest.fixture
def stocked(
    cloud_twin: CloudTwin, metadata: list[str], tmp_path: Path
) -> Iterator[tuple[Kit, str, str, str]]:
    """The twin with a BigQuery table, two dataset versions of it, and two model versions, the
    first deployed to the GKE cluster: the kit, the model's name, the dataset's and the table's."""
    assert cloud_twin.bigquery is not None
    suffix = uuid.uuid4().hex[:8]  # the twin's stores are shared by the session
    table = f"customers_{suffix}"
    cloud_twin.bigquery.db.execute(
        f'CREATE TABLE "{PROJECT}"."{DATASET}"."{table}" AS {CHURN_V1} LIMIT 80'
    )
    overrides = dict(zip(metadata[::2], metadata[1::2], strict=True))
    kit = Kit.open("twin", **{key.removeprefix("--"): value for key, value in overrides.items()})
    migrate.upgrade(kit.metadata)
    dataset, model = f"c{suffix}", f"churn-{suffix}"
    data.snapshot(kit, dataset, query=f"SELECT * FROM `{PROJECT}.{DATASET}.{table}`")
    data.snapshot(
        kit, dataset, query=f"SELECT * FROM `{PROJECT}.{DATASET}.{table}` WHERE tenure > 5"
    )
    for seed in (0, 1):
        path = train_classifier(tmp_path / f"m{seed}", seed)
        models.register(kit, model, path, lineage=models.Lineage(image_digest=IMAGE))
    open_deploy_target(kit).deploy(f"{model}@1", alias="production", reason="first")
    yield kit, model, dataset, table
    kit.close()
    cloud_twin.bigquery.db.execute(f'DROP TABLE "{PROJECT}"."{DATASET}"."{table}"')


def state(kit: Kit, twin: CloudTwin) -> dict[str, Any]:
    """Every row of the metadata database, every object of the artifact store, every object of
    the cluster and every table of the warehouse's dataset."""
    assert twin.kubernetes is not None and twin.bigquery is not None
    with kit.metadata.reading() as session:
        rows = {
            table.name: sorted(map(repr, session.execute(select(table)).all()))
            for table in Base.metadata.sorted_tables
        }
    objects = [(o.key, o.size, o.updated) for o in kit.artifacts.list_objects()]
    with twin.kubernetes.lock:
        cluster = copy.deepcopy(twin.kubernetes.objects)
    return {
        "metadata": rows,
        "artifacts": objects,
        "cluster": cluster,
        "warehouse": twin.bigquery.tables(DATASET),
    }


def test_a_dry_run_changes_nothing_and_says_what_it_would_have_changed_first(
    cloud_twin: CloudTwin,
    stocked: tuple[Kit, str, str, str],
    metadata: list[str],
    run_cli,
    tmp_path,
) -> None:
    kit, model, dataset, table = stocked
    before = state(kit, cloud_twin)
    assert before["metadata"]["model_versions"] and before["artifacts"] and before["cluster"]
    dry = ["--env", "twin", *metadata, "--dry-run"]
    artifact = train_classifier(tmp_path / "new", 2)
    query = f"SELECT * FROM `{PROJECT}.{DATASET}.{table}`"
    expected = {
        ("models", "promote", f"{model}@2", "--alias", "champion", "--reason", "r"): (
            "dry run: `models promote` would write the metadata database (table "
        ),
        ("models", "register", model, str(artifact)): (
            "dry run: `models register` would write the metadata database (table "
        ),
        ("deploy", f"{model}@2", "--alias", "production", "--reason", "r"): (
            f"dry run: `deploy` would deploy {model}@2 to 'production' through the deploy "
            "target gke://"
        ),
        ("serve", f"{model}@production"): (
            f"dry run: `serve` would log the predictions of {model}@production to the prediction "
            "log"
        ),
        (
            "data",
            "snapshot",
            "fresh",
            "--query",
            query,
        ): f"dry run: read query:{query} would process ",
    }
    for command, says in expected.items():
        result = run_cli(*dry, *command)
        assert result.exit_code == 0, result.stderr
        (line,) = result.stdout.strip().splitlines()
        assert line.startswith(says), line
        if "would process" not in line:
            assert line.endswith(
                "before any BigQuery query; nothing was changed and nothing is estimated: run "
                "it without --dry-run"
            ), line
        assert "error" not in result.stderr
        assert state(kit, cloud_twin) == before, command
    # A command that reads gets BigQuery's estimate of its first query (the rows by key).
    read = run_cli(*dry, "data", "diff", f"{dataset}@1", f"{dataset}@2", "--key", "customer_id")
    assert read.exit_code == 0, read.stderr
    assert len(read.stdout.strip().splitlines()) == 1, read.stdout[:3000]
    (line,) = read.stdout.strip().splitlines()
    assert line.startswith("dry run: ") and " would process " in line, line
    assert state(kit, cloud_twin) == before


def test_a_kit_in_a_dry_run_refuses_each_change_of_each_backend(
    cloud_twin: CloudTwin, stocked: tuple[Kit, str, str, str], tmp_path: Path
) -> None:
    assert cloud_twin.kubeflow is not None and cloud_twin.vertex is not None
    kit, model, _dataset, _table = stocked
    mirrored = Kit(kit.environment.model_copy(update={"registry_mirror": MIRROR}))
    for dry in (kit, mirrored):
        dry.start_dry_run("`this`")
    key = f"{model}/1/model.joblib"
    pipeline = PipelineSubmission(tmp_path / "pipeline.yaml", {}, "nightly")
    changes = {
        "the artifact store's write": lambda: kit.artifacts.write(
            tmp_path / "m0/model.joblib", key
        ),
        "the artifact store's delete": lambda: kit.artifacts.delete(key),
        "a metadata write": lambda: models.promote(kit, f"{model}@2", "champion", "r"),
        "a rollback": lambda: open_deploy_target(kit).rollback(model, "production", reason="r"),
        "a pipeline run": lambda: kit.orchestrator.submit(pipeline),
        "a schedule": lambda: kit.orchestrator.schedule(pipeline, "0 3 * * *"),
        "a copy to the registry mirror": lambda: models.mirror(mirrored, f"{model}@1"),
    }
    for what, change in changes.items():
        with pytest.raises(DryRunEnded, match=r"^dry run: `this` would .* nothing was changed"):
            change()
        assert kit.artifacts.exists(key), what
    # Nothing reached Kubeflow Pipelines or Vertex AI, and reads go on.
    assert [r for r in cloud_twin.kubeflow.requests if r[0] != "GET"] == []
    assert cloud_twin.vertex.posted("/models:upload") == []
    assert models.get_version(kit, f"{model}@1").version == 1
    mirrored.close()
