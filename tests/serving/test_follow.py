"""Promotions and rollbacks reach a running server while a client keeps sending requests."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import httpx

from mlops_kit.kit import Kit
from mlops_kit.serving.process import ServerProcess
from tests.serving.conftest import FEATURES, MODEL


class Client(threading.Thread):
    """Sends predictions back to back, recording what each response said."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stopping = threading.Event()
        self.answers: list[tuple[int, int | None, str | None, list[str]]] = []

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stopping.is_set():
                response = client.post(f"{self.url}/predict", json={"instances": [FEATURES]})
                body = response.json()
                self.answers.append(
                    (
                        response.status_code,
                        body.get("model_version"),
                        response.headers.get("x-model-version"),
                        body.get("request_ids", []),
                    )
                )

    def latest_version(self) -> int | None:
        return self.answers[-1][1] if self.answers else None

    def wait_for(self, version: int, timeout: float = 10.0) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.latest_version() == version:
                return time.monotonic() - started
            time.sleep(0.02)
        raise AssertionError(f"still serving {self.latest_version()}, not {version}")


def corrupt_artifact(root: Path, version: int) -> None:
    stored = root / ".mlops" / "artifacts" / MODEL / str(version) / "model.joblib"
    os.chmod(stored, 0o644)
    stored.write_bytes(stored.read_bytes()[:-10] + b"corrupted!")


def test_promotion_rollback_and_a_corrupt_version_under_load(twin: tuple[Kit, Path]) -> None:
    from mlops_kit import models
    from mlops_kit.models.aliases import move_alias
    from mlops_kit.models.lookup import model_row, version_row
    from mlops_kit.models.names import as_ref
    from mlops_kit.monitoring.predictions import log_tables

    kit, root = twin
    models.promote(kit, f"{MODEL}@1", "staging", "serve the first")
    server = ServerProcess(root, f"{MODEL}@staging", "--follow-interval", "0.2")
    server.start()
    client = Client(server.url)
    client.start()
    try:
        client.wait_for(1)
        models.promote(kit, f"{MODEL}@2", "staging", "try the second")
        assert client.wait_for(2) < 5
        models.rollback(kit, MODEL, "staging", reason="back to the first")
        assert client.wait_for(1) < 5

        corrupt = models.register(
            kit, MODEL, root / "model-1", lineage=models.Lineage(data=["churn@1"])
        )
        corrupt_artifact(root, corrupt.version)
        # promote() verifies the artifact and would refuse it: the damage stands for what happens
        # after a checked promotion, so the alias moves in the database as that promotion did.
        with kit.metadata.session() as session:
            move_alias(
                session,
                model_row(session, MODEL, for_update=True),
                "staging",
                version_row(session, as_ref(corrupt.ref)),
                "promote",
                "a version whose artifact was altered after it was checked",
                "tester",
            )
        deadline = time.monotonic() + 10
        ready: dict[str, object] = {}
        while time.monotonic() < deadline and not ready.get("failed_version"):
            ready = httpx.get(f"{server.url}/ready", timeout=5).json()
            time.sleep(0.05)
        time.sleep(0.5)  # more looks at the alias: the corrupt version is still not swapped in
    finally:
        client.stopping.set()
        client.join()
    ready = httpx.get(f"{server.url}/ready", timeout=5).json()
    metrics = httpx.get(f"{server.url}/metrics", timeout=5).text
    truth = {client.answers[0][3][0]: True, client.answers[-1][3][0]: False}
    assert httpx.post(f"{server.url}/ground-truth", json={"labels": truth}).status_code == 200
    server.stop()  # uvicorn shuts down, then ends by the signal it caught
    assert "Application shutdown complete" in server.log.read_text()

    assert ready["version"] == 1
    failed = ready["failed_version"]
    assert isinstance(failed, dict)
    assert failed["version"] == corrupt.version
    assert "checksum" in str(failed["reason"]) or "size" in str(failed["reason"])
    assert f'mlops_kit_serving_model_load_failures_total{{version="{corrupt.version}"}}' in metrics
    assert "not swapped in, still serving churn@1" in server.log.read_text()

    # Not one failed request; every response names its version, in header and body alike.
    statuses = {status for status, *_ in client.answers}
    assert statuses == {200}, statuses
    assert all(header == f"{MODEL}@{version}" for _, version, header, _ in client.answers)
    served = [version for _, version, _, _ in client.answers]
    changes = [v for i, v in enumerate(served) if i == 0 or v != served[i - 1]]
    assert changes == [1, 2, 1]

    # Every request is in the prediction log with the version that answered it.
    log, ground_truth = log_tables(kit)
    logged = {
        row["request_id"]: row["model_version"]
        for row in kit.warehouse.execute(log.select("request_id", "model_version")).to_pylist()
    }
    for _, version, _, request_ids in client.answers:
        assert logged[request_ids[0]] == version
    assert ground_truth is not None
    labels = {r["request_id"]: r["label"] for r in kit.warehouse.execute(ground_truth).to_pylist()}
    assert {key: labels[key] for key in truth} == {key: str(value) for key, value in truth.items()}
