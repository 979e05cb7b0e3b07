"""Fixtures of the serving tests: a local twin with two trained versions and real server processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_kit.kit import Kit
from mlops_kit.serving.process import ServerProcess
from tests.cloud_twin.gke import FakeKubernetes

GKE_SERVING = "mlops-serving@twin-project.iam.gserviceaccount.com"
GKE_DEPLOY = "gke://twin-project/europe-west1/mlops-twin/serving"
_GKE_CONTEXT = "gke_twin-project_europe-west1_mlops-twin"
MODEL = "churn"
FEATURES = {
    "contract": "month-to-month",
    "region": "north",
    "tenure_months": 3,
    "monthly_charges": 80.5,
    "support_calls": 2,
}


def train(directory: Path, frame: object, c: float) -> Path:
    """A small churn classifier (one-hot categories, raw numbers) saved as model.joblib."""
    import joblib
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    features = frame.drop(columns=["customer_id", "churned"])  # type: ignore[attr-defined]
    pipeline = Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [
                        (
                            "categories",
                            OneHotEncoder(handle_unknown="ignore"),
                            ["contract", "region"],
                        )
                    ],
                    remainder="passthrough",
                ),
            ),
            ("classifier", LogisticRegression(C=c, max_iter=300)),
        ]
    )
    pipeline.fit(features, frame["churned"])  # type: ignore[index]
    directory.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, directory / "model.joblib")
    return directory


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubernetes]:
    """The GKE cluster of :data:`GKE_DEPLOY`, its serving account bound to :data:`GKE_SERVING`."""
    fake = FakeKubernetes().start()
    fake.add_service_account("serving", "model-server", GKE_SERVING)
    kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig", _GKE_CONTEXT)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Kit, Path]]:
    """A project on the local twin: demo data ``churn@1`` and two model versions trained on it."""
    from mlops_kit import data, models
    from mlops_kit.environments import Workspace, resolve_environment
    from mlops_kit.pipelines.demo import churn_frame, write_demo_data

    root = tmp_path_factory.mktemp("serving")
    (root / "mlops-kit.yaml").write_text("local_root: .mlops\n", encoding="utf-8")
    environment = resolve_environment("local", workspace=Workspace.discover(root, environ={}))
    frame = churn_frame(600)
    with Kit(environment) as kit:
        source = write_demo_data(root / "churn.csv", rows=600)
        dataset = data.snapshot(kit, "churn", path=source).ref
        for version, c in ((1, 1.0), (2, 0.001)):
            artifact = train(root / f"model-{version}", frame, c)
            models.register(kit, MODEL, artifact, lineage=models.Lineage(data=[dataset]))
        models.promote(kit, f"{MODEL}@1", "production", "first")
        yield kit, root


@pytest.fixture(scope="module")
def server(twin: tuple[Kit, Path]) -> Iterator[ServerProcess]:
    """A server following ``churn@production`` (version 1)."""
    with ServerProcess(twin[1], f"{MODEL}@production", "--follow-interval", "0.2") as process:
        yield process
