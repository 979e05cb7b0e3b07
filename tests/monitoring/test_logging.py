"""The prediction logger: batching, time-based flushing, threads, ground truth and bad input."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from mlops_kit.errors import BackendError, ConfigError
from tests.cloud_twin.bigquery import FakeBigQuery


def _batches(project_dir: Path, table: str) -> list[Path]:
    return sorted((project_dir / ".mlops").glob(f"**/{table}/*/*.parquet"))


def _wait_for(predicate, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_full_batch_is_written_by_the_writer_thread(local_kit, project_dir: Path) -> None:
    from mlops_kit.monitoring import PredictionLogger, log_ground_truth
    from mlops_kit.monitoring.schema import PREDICTION_LOG

    at = datetime(2026, 11, 20, 8, tzinfo=UTC)
    with PredictionLogger(local_kit, "churn", 3, batch_size=4, max_delay=60) as logger:
        for i in range(3):
            logger.log(f"r{i}", {"tenure": i, "plan": "pro", "ratio": float("nan")}, 1, 0.7, at)
        time.sleep(0.3)
        assert _batches(project_dir, "prediction_log") == []  # below batch_size, not yet due
        logger.log("r3", {"tenure": 3}, 1, 0.7, at)
        _wait_for(lambda: _batches(project_dir, "prediction_log"))
        (batch,) = _batches(project_dir, "prediction_log")
        table = pq.read_table(batch)
        assert table.column_names == PREDICTION_LOG.column_names and table.num_rows == 4
        logger.log("r4", {"tenure": 4}, 0, None, at)
    assert logger.written == 5 and len(_batches(project_dir, "prediction_log")) == 2
    row = min(table.to_pylist(), key=lambda r: r["request_id"])
    assert row["model_name"] == "churn" and row["model_version"] == 3
    # The local twin types each feature of a batch: numbers as doubles, anything else as text.
    assert row["features"] == {"tenure": 0.0, "plan": "pro", "ratio": None}
    assert str(table.schema.field("features").type) == (
        "struct<tenure: double, plan: string, ratio: string>"
    )
    assert row["logged_at"] == at
    assert log_ground_truth(local_kit, [("r1", 0), ("r2", True)]) == 2
    labels = pq.read_table(_batches(project_dir, "ground_truth")[0]).to_pylist()
    assert [(r["request_id"], r["label"]) for r in labels] == [("r1", "0"), ("r2", "True")]


def test_an_idle_buffer_is_flushed_after_max_delay(local_kit, project_dir: Path) -> None:
    from mlops_kit.monitoring import PredictionLogger

    logger = PredictionLogger(local_kit, "churn", 1, batch_size=1000, max_delay=0.2)
    logger.log("r1", {"x": 1}, "yes")
    _wait_for(lambda: _batches(project_dir, "prediction_log"))
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


def test_failed_writes_keep_the_rows_and_push_back_when_the_buffer_is_full(
    local_kit, project_dir: Path
) -> None:
    from mlops_kit.monitoring import PredictionLogger

    logger = PredictionLogger(local_kit, "churn", 1, batch_size=2, max_delay=0.05, max_buffered=4)
    root = logger.sink.root  # type: ignore[attr-defined]
    root.mkdir(parents=True, exist_ok=True)
    (root / "prediction_log").write_text("not a folder")  # every write fails
    for i in range(4):
        logger.log(f"r{i}", {"x": i}, 1)
    _wait_for(lambda: logger._failure is not None)
    with pytest.raises(BackendError, match="4 predictions are waiting because writing failed"):
        logger.log("r4", {"x": 4}, 1)
    (root / "prediction_log").unlink()  # the warehouse recovers: nothing was lost
    logger.close()
    assert logger.written == 4


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
    with pytest.raises(ConfigError, match="max_buffered >= batch_size"):
        PredictionLogger(local_kit, "churn", 1, batch_size=10, max_buffered=5)
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


def test_batches_with_other_keys_and_types_read_as_one_table(local_kit) -> None:
    from mlops_kit.monitoring import PredictionLogger
    from mlops_kit.monitoring.predictions import log_tables

    with PredictionLogger(local_kit, "churn", 1, batch_size=1) as logger:
        logger.log("r1", {"tenure": 3, "plan": "pro"}, 1)
        logger.flush()
        logger.log("r2", {"tenure": "unknown", "seats": 2}, 1)
        logger.flush()
        logger.log("r3", {}, 0)  # no features: the batch has no features column
    log, _truth = log_tables(local_kit)
    rows = local_kit.warehouse.execute(log.select("request_id", "features")).to_pylist()
    features = {row["request_id"]: row["features"] for row in rows}
    # A key logged as a number in one batch and as text in another is read as text.
    assert features["r1"] == {"tenure": "3.0", "plan": "pro", "seats": None}
    assert features["r2"] == {"tenure": "unknown", "plan": None, "seats": 2.0}
    assert features["r3"] is None


@pytest.fixture
def bigquery_logs() -> Iterator[FakeBigQuery]:
    """A BigQuery fake of the twin on loopback, with the provisioned log tables in ``proj.mon``."""
    from mlops_kit.monitoring.schema import GROUND_TRUTH, PREDICTION_LOG

    fake = FakeBigQuery("proj", ("data", "mon")).start()
    for schema in (PREDICTION_LOG, GROUND_TRUTH):
        fields = [{"name": name, "type": kind} for name, kind in schema.columns]
        fake.create_table("proj", "mon", schema.name, fields)
    yield fake
    fake.stop()


@pytest.fixture
def bigquery_kit(
    tmp_path: Path, bigquery_logs: FakeBigQuery, twin_credentials: Path
) -> Iterator[Any]:
    """A cloud environment whose warehouse URI names the fake's endpoint, with the twin's key."""
    from mlops_kit.environments import Environment
    from mlops_kit.kit import Kit

    environment = Environment(
        name="dev",
        warehouse=f"bigquery://proj/data?api_endpoint={bigquery_logs.endpoint}",
        artifacts="gs://b/p",
        metadata=f"sqlite:///{tmp_path / 'm.db'}",
        orchestrator="kfp-local",
        prediction_log_table="proj.mon.prediction_log",
    )
    with Kit(environment) as kit:
        yield kit


def _inserts(fake: FakeBigQuery) -> list[tuple[str, dict[str, Any]]]:
    paths = [(path.split("?")[0], body) for _method, path, body in fake.requests]
    return [(path, body) for path, body in paths if path.endswith("/insertAll")]


def test_bigquery_logs_stream_one_insert_per_batch_into_the_provisioned_tables(
    bigquery_kit: Any, bigquery_logs: FakeBigQuery
) -> None:
    from mlops_kit.monitoring import PredictionLogger, log_ground_truth

    at = datetime(2026, 11, 20, 8, tzinfo=UTC)
    with PredictionLogger(bigquery_kit, "churn", 3, batch_size=2, max_delay=60) as logger:
        logger.log("r1", {"tenure": 1, "plan": "pro"}, 1, 0.7, at)
        logger.log("r2", {"tenure": 2}, 0, None, at)
    assert log_ground_truth(bigquery_kit, {"r1": 1}, at) == 1

    (log_path, log_body), (truth_path, truth_body) = _inserts(bigquery_logs)
    assert log_path.endswith("/projects/proj/datasets/mon/tables/prediction_log/insertAll")
    assert truth_path.endswith("/projects/proj/datasets/mon/tables/ground_truth/insertAll")
    first = log_body["rows"][0]["json"]
    assert json.loads(first["features"]) == {"tenure": 1, "plan": "pro"}
    assert (first["model_version"], first["score"]) == (3, 0.7)
    assert first["logged_at"] == at.isoformat()
    assert truth_body["rows"][0]["json"] == {
        "request_id": "r1",
        "label": "1",
        "logged_at": at.isoformat(),
    }


def test_bigquery_refusing_rows_keeps_them_buffered(
    bigquery_kit: Any, bigquery_logs: FakeBigQuery
) -> None:
    from mlops_kit.monitoring import PredictionLogger

    # A log table provisioned without the score column refuses the rows that carry one.
    bigquery_logs.db.execute('ALTER TABLE "proj"."mon"."prediction_log" DROP COLUMN score')
    logger = PredictionLogger(bigquery_kit, "churn", 1, batch_size=10, max_delay=60)
    logger.log("r1", {"x": 1}, 1, 0.5)
    with pytest.raises(BackendError, match=r"BigQuery refused rows of proj\.mon\.prediction_log"):
        logger.flush()
    bigquery_logs.db.execute('ALTER TABLE "proj"."mon"."prediction_log" ADD COLUMN score DOUBLE')
    logger.close()
    assert logger.written == 1 and len(_inserts(bigquery_logs)) == 2


def test_slow_writes_push_back_at_the_bound_and_the_server_counts_the_dropped_rows(
    local_kit, project_dir: Path
) -> None:
    from mlops_kit.serving.metrics import ServingMetrics
    from mlops_kit.serving.prediction_log import ServedPredictionLog
    from mlops_kit.serving.settings import ServingSettings

    settings = ServingSettings(log_batch_size=2, log_max_delay=0.05, log_max_buffered=4)
    metrics = ServingMetrics("churn")
    served = ServedPredictionLog(local_kit, "churn", settings, metrics)
    sink = served._logger(1).sink
    writing, released = threading.Event(), threading.Event()
    append = sink.append

    def slow_append(table, rows):  # type: ignore[no-untyped-def]
        writing.set()
        assert released.wait(timeout=60)  # the warehouse is slow: this batch takes a while
        append(table, rows)

    sink.append = slow_append  # type: ignore[method-assign]

    def log(*numbers: int) -> None:
        ids = [f"r{n}" for n in numbers]
        served.log(1, ids, [{"x": n} for n in numbers], [1] * len(numbers), None)

    log(0, 1)  # one batch: the writer takes it and is stuck writing it
    assert writing.wait(timeout=60)
    log(2, 3, 4, 5)  # buffered up to the bound
    log(6, 7)  # beyond it: pushed back, counted as dropped, never raised to the request
    assert served.depth() == 6.0
    assert "mlops_kit_serving_prediction_log_rows_dropped_total 2.0" in metrics.render()[0].decode()
    with pytest.raises(BackendError, match="writing is slower than predictions arrive"):
        served._logger(1).log("r8", {"x": 8}, 1)
    released.set()
    served.close()
    logged = [
        r
        for f in _batches(project_dir, "prediction_log")
        for r in pq.read_table(f)["request_id"].to_pylist()
    ]
    assert sorted(logged) == [f"r{n}" for n in range(6)]
    assert served.depth() == 0.0


def test_the_buffer_must_hold_a_batch() -> None:
    from mlops_kit.serving.settings import ServingSettings

    with pytest.raises(ConfigError, match="log_max_buffered 10 is below log_batch_size 1000"):
        ServingSettings.resolve({"log_max_buffered": 10})
