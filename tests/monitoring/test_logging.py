"""The prediction logger: batching, time-based flushing, threads, ground truth and bad input."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mlops_kit.errors import BackendError, ConfigError


def _batches(project_dir: Path, table: str) -> list[Path]:
    return sorted((project_dir / ".mlops").glob(f"**/{table}/*/*.parquet"))


def test_one_file_per_batch_with_the_contract_schema(local_kit, project_dir: Path) -> None:
    from mlops_kit.monitoring import PredictionLogger, log_ground_truth
    from mlops_kit.monitoring.schema import PREDICTION_LOG

    at = datetime(2026, 11, 20, 8, tzinfo=UTC)
    with PredictionLogger(local_kit, "churn", 3, batch_size=4, max_delay=60) as logger:
        for i in range(10):
            logger.log(f"r{i}", {"tenure": i, "plan": "pro", "ratio": float("nan")}, 1, 0.7, at)
        assert len(_batches(project_dir, "prediction_log")) == 2  # 8 written, 2 buffered
    files = _batches(project_dir, "prediction_log")
    assert len(files) == 3 and logger.written == 10
    assert pq.read_table(files[0]).column_names == PREDICTION_LOG.column_names
    rows = [r for f in files for r in pq.read_table(f).to_pylist()]
    row = min(rows, key=lambda r: r["request_id"])
    assert row["model_name"] == "churn" and row["model_version"] == 3
    assert row["features"] == '{"tenure": 0, "plan": "pro", "ratio": null}'
    assert row["logged_at"] == at
    assert log_ground_truth(local_kit, [("r1", 0), ("r2", True)]) == 2
    labels = pq.read_table(_batches(project_dir, "ground_truth")[0]).to_pylist()
    assert [(r["request_id"], r["label"]) for r in labels] == [("r1", "0"), ("r2", "True")]


def test_an_idle_buffer_is_flushed_after_max_delay(local_kit, project_dir: Path) -> None:
    from mlops_kit.monitoring import PredictionLogger

    logger = PredictionLogger(local_kit, "churn", 1, batch_size=1000, max_delay=0.2)
    logger.log("r1", {"x": 1}, "yes")
    deadline = time.monotonic() + 5
    while not _batches(project_dir, "prediction_log") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_batches(project_dir, "prediction_log")) == 1
    logger.close()
    assert logger.written == 1


def test_threads_lose_and_duplicate_nothing(local_kit, project_dir: Path) -> None:
    from mlops_kit.monitoring import PredictionLogger

    with PredictionLogger(local_kit, "churn", 1, batch_size=50, max_delay=0.05) as logger:

        def serve(worker: int) -> None:
            for i in range(200):
                logger.log(f"w{worker}-{i}", {"i": i}, 0, 0.1)

        threads = [threading.Thread(target=serve, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    ids = [
        r
        for f in _batches(project_dir, "prediction_log")
        for r in pq.read_table(f)["request_id"].to_pylist()
    ]
    assert len(ids) == len(set(ids)) == 800


def test_a_failed_write_keeps_the_rows_for_the_next_flush(local_kit, project_dir: Path) -> None:
    from mlops_kit.monitoring import PredictionLogger

    logger = PredictionLogger(local_kit, "churn", 1, batch_size=100, max_delay=60)
    logger.log("r1", {"x": 1}, 1)
    root = logger.sink.root  # type: ignore[attr-defined]
    root.mkdir(parents=True, exist_ok=True)
    (root / "prediction_log").write_text("not a folder")
    with pytest.raises(BackendError, match="cannot write prediction_log batch"):
        logger.flush()
    (root / "prediction_log").unlink()
    assert logger.flush() == 1
    logger.close()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda lg: lg.log("r", {"x": object()}, 1), "features cannot be logged as JSON"),
        (lambda lg: lg.log("r", {"x": 1}, 1, timestamp=datetime(2026, 1, 1)), "has no timezone"),
    ],
)
def test_bad_rows_are_refused_and_nothing_is_buffered(local_kit, call, message) -> None:
    from mlops_kit.monitoring import PredictionLogger

    logger = PredictionLogger(local_kit, "churn", 1)
    with pytest.raises(ConfigError, match=message):
        call(logger)
    assert logger.flush() == 0
    logger.close()


def test_bad_batching_and_missing_cloud_table_are_config_errors(local_kit) -> None:
    from mlops_kit.environments import Environment
    from mlops_kit.kit import Kit
    from mlops_kit.monitoring import PredictionLogger

    with pytest.raises(ConfigError, match="invalid batching"):
        PredictionLogger(local_kit, "churn", 1, batch_size=0)
    cloud = Kit(
        Environment(
            name="dev",
            warehouse="bigquery://proj/ds",
            artifacts="gs://b/p",
            metadata="sqlite:///x.db",
            orchestrator="kfp-local",
        )
    )
    with pytest.raises(ConfigError, match="has no prediction_log_table"):
        PredictionLogger(cloud, "churn", 1)


def test_report_before_anything_is_logged_says_so(local_kit) -> None:
    from mlops_kit.errors import NotFoundError
    from mlops_kit.monitoring import WatchedModel, build_report

    with pytest.raises(NotFoundError, match="no predictions logged"):
        build_report(local_kit, WatchedModel("churn", 1))
