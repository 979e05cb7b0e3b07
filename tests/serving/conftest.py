"""Fixtures of the serving tests: a local twin with two trained versions and real server processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlops_kit.kit import Kit

MODEL = "churn"
FEATURES = {
    "contract": "month-to-month",
    "region": "north",
    "tenure_months": 3,
    "monthly_charges": 80.5,
    "support_calls": 2,
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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


class ServerProcess:
    """``mlops-kit serve`` in a subprocess on a free loopback port of the project in ``root``."""

    def __init__(self, root: Path, ref: str, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root / f"server-{self.port}.log"
        command = [sys.executable, "-m", "mlops_kit", "serve", ref, "--port", str(self.port)]
        environ = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, *extra], cwd=root, stdout=log, stderr=subprocess.STDOUT, env=environ
            )

    def wait_ready(self, timeout: float = 30) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                response = httpx.get(f"{self.url}/ready", timeout=1)
                if response.status_code == 200:
                    body: dict[str, object] = response.json()
                    return body
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not ready: {self.log.read_text()[-3000:]}")

    def stop(self) -> int:
        """Stop as a platform does (SIGTERM): the server writes its log before it exits."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


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
            models.register(kit, MODEL, artifact, data=[dataset])
        models.promote(kit, f"{MODEL}@1", "production", "first")
        yield kit, root


@pytest.fixture(scope="module")
def server(twin: tuple[Kit, Path]) -> Iterator[ServerProcess]:
    """A server following ``churn@production`` (version 1)."""
    process = ServerProcess(twin[1], f"{MODEL}@production", "--follow-interval", "0.2")
    process.wait_ready()
    yield process
    process.stop()
