"""Fixtures of the model registry tests: a GCS emulator on loopback, stores, kits and trained models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cloud_twin.storage import GcsEmulator
from tests.conftest import require


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcsEmulator | None]:
    emulator = GcsEmulator(tmp_path_factory.mktemp("gcs") / "fake-gcs-server.log")
    started = emulator.start()
    yield emulator if started else None
    emulator.stop()


@pytest.fixture
def gcs_uri(gcs_emulator: GcsEmulator | None, monkeypatch: pytest.MonkeyPatch) -> str:
    """``gs://BUCKET/models`` on a fresh bucket of the emulator (the real client talks to it)."""
    require(gcs_emulator is not None, "the GCS emulator (fake-gcs-server)")
    assert gcs_emulator is not None
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
    return f"gs://{gcs_emulator.create_bucket()}/models"


@pytest.fixture
def private_gcs_emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GcsEmulator]:
    """An emulator of this test alone, which the test may stop (to break an upload)."""
    emulator = GcsEmulator(tmp_path / "fake-gcs-server.log")
    require(emulator.start(), "the GCS emulator (fake-gcs-server)")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.url)
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def file_uri(tmp_path: Path) -> str:
    return (tmp_path / "artifacts").as_uri()


@pytest.fixture(params=["file", pytest.param("gs", marks=pytest.mark.gcs)])
def store_uri(request: pytest.FixtureRequest) -> str:
    """The URI of each artifact store: a local directory, then a bucket of the GCS emulator."""
    fixture = "file_uri" if request.param == "file" else "gcs_uri"
    uri: str = request.getfixturevalue(fixture)
    return uri


def write_bytes(path: Path, size: int, seed: int = 0) -> Path:
    """Write ``size`` pseudo-random bytes to ``path`` (deterministic per ``seed``)."""
    import random

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


@pytest.fixture
def kit(project_dir: Path, metadata_url: str) -> Iterator[object]:
    """The local twin of a fresh project, its metadata on SQLite, then on the real PostgreSQL."""
    from mlops_kit.kit import Kit

    with Kit.open(metadata=metadata_url) as opened:
        yield opened


def train_classifier(directory: Path, seed: int = 0) -> Path:
    """A small scikit-learn classifier saved as ``directory/model.joblib``."""
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    features = rng.random((60, 3))
    model = LogisticRegression().fit(features, (features[:, 0] > 0.5).astype(int))
    directory.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, directory / "model.joblib")
    return directory


METRICS = {"overall": {"accuracy": 0.91, "f1": 0.88}, "slices": {"hour": {"3": {"accuracy": 0.4}}}}
