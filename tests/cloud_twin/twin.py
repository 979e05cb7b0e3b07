"""The whole cloud twin: every fake started on loopback, the variables its clients need, and the
environment files whose URIs are the cloud schemes pointing at it."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlops_kit.environments import Environment
from mlops_kit.monitoring.schema import GROUND_TRUTH, PREDICTION_LOG
from tests.cloud_twin.bigquery import FakeBigQuery
from tests.cloud_twin.cloudsql import FakeCloudSql
from tests.cloud_twin.gke import FakeKubernetes
from tests.cloud_twin.googleapis import ROOTS_VARIABLE, GoogleApis
from tests.cloud_twin.kubeflow import FakeKubeflow
from tests.cloud_twin.oauth import TokenEndpoint
from tests.cloud_twin.storage import GcsEmulator
from tests.cloud_twin.vertex import FakeVertex

PROJECT = "twin-project"
REGION = "europe-west1"
DATASET = "mlops_twin"
MONITORING_DATASET = "mlops_twin_monitoring"
BUCKET = "twin-project-mlops-models"
INSTANCE = f"{PROJECT}:{REGION}:mlops-twin-metadata"
DATABASE = "mlops"
"""The instance's database as clients name it (its data lives in a database of the twin's own)."""
CLUSTER = "mlops-twin-gke"
SERVING_NAMESPACE = "serving"
SERVING_ACCOUNT = f"mlops-serving@{PROJECT}.iam.gserviceaccount.com"
POSTGRES_ADMIN_URL = os.environ.get(
    "MLOPS_KIT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
"""The real PostgreSQL (as a superuser) in which the Cloud SQL instance creates its database."""


def runner_account(worker: str | None = None) -> str:
    """The pipeline runner's service account, one per xdist worker (its database role too)."""
    worker = worker if worker is not None else os.environ.get("PYTEST_XDIST_WORKER", "")
    suffix = f"-{worker}" if worker else ""
    return f"mlops-pipeline-runner{suffix}@{PROJECT}.iam.gserviceaccount.com"


@dataclass
class CloudTwin:
    """The fakes of one process, and what a client needs to reach them."""

    directory: Path
    tokens: TokenEndpoint | None = None
    bigquery: FakeBigQuery | None = None
    storage: GcsEmulator | None = None
    cloudsql: FakeCloudSql | None = None
    kubeflow: FakeKubeflow | None = None
    vertex: FakeVertex | None = None
    kubernetes: FakeKubernetes | None = None
    googleapis: GoogleApis | None = None
    failures: dict[str, str] = field(default_factory=dict)
    """Why each fake that did not start did not (by fake)."""
    started_in: float = 0.0
    """Seconds the start took."""

    @property
    def account(self) -> str:
        """The service account the credentials file belongs to."""
        return runner_account()

    @property
    def credentials_file(self) -> Path:
        """The service account key file (``GOOGLE_APPLICATION_CREDENTIALS``)."""
        return self.directory / "credentials.json"

    @property
    def kubeconfig(self) -> Path:
        """The kubeconfig whose context ``gke_PROJECT_REGION_CLUSTER`` reaches the cluster."""
        return self.directory / "kubeconfig"

    @property
    def environments_dir(self) -> Path:
        """The directory of the environment files (``MLOPS_KIT_ENVIRONMENTS_DIR``)."""
        return self.directory / "environments"

    def environ(self) -> dict[str, str]:
        """The variables that send the Google clients to the twin (all on loopback)."""
        variables = {
            "GOOGLE_APPLICATION_CREDENTIALS": str(self.credentials_file),
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "MLOPS_KIT_ENVIRONMENTS_DIR": str(self.environments_dir),
        }
        if self.bigquery is not None:
            variables["BIGQUERY_EMULATOR_HOST"] = self.bigquery.endpoint
        if self.storage is not None:
            variables["STORAGE_EMULATOR_HOST"] = self.storage.url
        if self.kubernetes is not None:
            variables["KUBECONFIG"] = str(self.kubeconfig)
        if self.googleapis is not None:
            variables["grpc_proxy"] = self.googleapis.proxy_url
            variables[ROOTS_VARIABLE] = str(self.googleapis.roots_file)
        return variables

    def environment(self, name: str = "twin") -> Environment:
        """The environment ``twin`` (Kubeflow Pipelines) or ``twin-vertex`` (Vertex AI Pipelines)."""
        assert self.cloudsql is not None and self.kubeflow is not None
        orchestrator = (
            f"vertex://{PROJECT}/{REGION}"
            if name == "twin-vertex"
            else f"kfp+{self.kubeflow.url}?audience={self.kubeflow.audience}"
        )
        metadata = (
            f"cloudsql://{INSTANCE}/{DATABASE}?iam_user={self.account}"
            f"&sqladmin_api_endpoint={self.cloudsql.admin_endpoint}"
        )
        return Environment(
            name=name,
            warehouse=f"bigquery://{PROJECT}/{DATASET}",
            artifacts=f"gs://{BUCKET}/models",
            metadata=metadata,
            orchestrator=orchestrator,
            project=PROJECT,
            region=REGION,
            dataset=DATASET,
            prediction_log_table=f"{PROJECT}.{MONITORING_DATASET}.{PREDICTION_LOG.name}",
            bucket=BUCKET,
            pipeline_root=f"gs://{BUCKET}/pipeline-root",
            service_accounts={"pipeline_runner": self.account, "serving": SERVING_ACCOUNT},
            labels={"env": name},
            deploy=f"gke://{PROJECT}/{REGION}/{CLUSTER}/{SERVING_NAMESPACE}",
        )

    def environment_file(self, name: str = "twin") -> Path:
        """The environment file ``NAME.yaml`` of :meth:`environment` (written on first use)."""
        path = self.environments_dir / f"{name}.yaml"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            body = yaml.safe_dump(self.environment(name).model_dump(mode="json"), sort_keys=False)
            path.write_text(body, encoding="utf-8")
        return path

    def clear_requests(self) -> None:
        """Forget the requests recorded so far (the data stays)."""
        for fake in (self.bigquery, self.cloudsql, self.kubeflow, self.vertex, self.kubernetes):
            if fake is not None:
                fake.requests.clear()

    def stop(self) -> None:
        """Stop every fake that runs."""
        fakes = (
            self.googleapis,
            self.vertex,
            self.kubernetes,
            self.kubeflow,
            self.cloudsql,
            self.storage,
        )
        for fake in (*fakes, self.bigquery):
            if fake is not None:
                fake.stop()
        if self.tokens is not None:
            self.tokens.stop()


def start_twin(directory: Path | None = None, postgres_url: str = POSTGRES_ADMIN_URL) -> CloudTwin:
    """Start every fake on loopback; one that cannot start is named in ``failures``, not raised."""
    began = time.monotonic()
    twin = CloudTwin(Path(directory or tempfile.mkdtemp(prefix="cloud-twin-")))
    twin.directory.mkdir(parents=True, exist_ok=True)
    twin.tokens = TokenEndpoint().start()
    twin.tokens.write_credentials(twin.credentials_file, twin.account, PROJECT)
    twin.bigquery = _started(twin, "BigQuery", _bigquery)
    twin.storage = _started(twin, "Cloud Storage (fake-gcs-server)", lambda: _storage(twin))
    twin.cloudsql = _started(twin, "Cloud SQL (PostgreSQL)", lambda: _cloudsql(twin, postgres_url))
    twin.kubeflow = FakeKubeflow(twin.tokens).start()
    twin.vertex = FakeVertex().start()
    twin.kubernetes = FakeKubernetes((SERVING_NAMESPACE,)).start()
    twin.kubernetes.add_service_account(SERVING_NAMESPACE, "model-server", SERVING_ACCOUNT)
    twin.kubernetes.write_kubeconfig(twin.kubeconfig, f"gke_{PROJECT}_{REGION}_{CLUSTER}")
    vertex = twin.vertex
    twin.googleapis = _started(
        twin, "Google gRPC hosts", lambda: GoogleApis(vertex, twin.directory).start()
    )
    if not twin.failures:
        twin.environment_file("twin")
        twin.environment_file("twin-vertex")
    twin.started_in = time.monotonic() - began
    return twin


def _started(twin: CloudTwin, what: str, start: Any) -> Any:
    try:
        return start()
    except Exception as exc:  # reported by the fixture: a skip here, a failure under CI=true
        twin.failures[what] = f"{type(exc).__name__}: {exc}"
        return None


def _bigquery() -> FakeBigQuery:
    fake = FakeBigQuery(PROJECT, (DATASET, MONITORING_DATASET)).start()
    for schema in (PREDICTION_LOG, GROUND_TRUTH):
        fields = [{"name": name, "type": kind} for name, kind in schema.columns]
        fake.create_table(PROJECT, MONITORING_DATASET, schema.name, fields)
    return fake


def _storage(twin: CloudTwin) -> GcsEmulator:
    emulator = GcsEmulator(twin.directory / "fake-gcs-server.log")
    if not emulator.start():
        raise RuntimeError(f"fake-gcs-server did not start (log: {emulator.log})")
    emulator.create_bucket(BUCKET)
    return emulator


def _cloudsql(twin: CloudTwin, postgres_url: str) -> FakeCloudSql:
    assert twin.tokens is not None
    return FakeCloudSql(
        twin.tokens,
        connection_name=INSTANCE,
        database=DATABASE,
        iam_user=twin.account,
        postgres_url=postgres_url,
    ).start()
