"""Prediction logging from a serving path: buffered, one warehouse insert per batch.

A :class:`PredictionLogger` keeps rows in memory; its writer thread inserts them as one batch when
``batch_size`` rows are waiting or the oldest has waited ``max_delay`` seconds, and
:meth:`~PredictionLogger.close` writes the rest. :func:`log_ground_truth` records outcomes later,
by request id.

Rows go to the log tables of the environment's warehouse (:meth:`Warehouse.log_sink
<mlops_kit.warehouse.Warehouse.log_sink>`), whichever warehouse that is.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

from typing_extensions import override

from mlops_kit.errors import BackendError, ConfigError, NotFoundError
from mlops_kit.monitoring.schema import GROUND_TRUTH, PREDICTION_LOG
from mlops_kit.monitoring.window import utc
from mlops_kit.resources import Resource

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from mlops_kit.kit import Kit
    from mlops_kit.warehouse import LogSink

Row = dict[str, Any]


def open_sink(kit: Kit) -> LogSink:
    """The sink of the log tables of ``kit``'s warehouse.

    Raises:
        ConfigError: the warehouse needs provisioned log tables and the environment names none.
    """
    return kit.warehouse.log_sink(kit.environment.log_dataset)


def _json_value(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalars
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return value


_TEXT_TYPES: Final = (date, Decimal, UUID, Path)
"""Values logged as their text (JSON has no type for them)."""


def _plain(value: Any) -> str:
    if isinstance(value, _TEXT_TYPES):
        return str(value)
    raise TypeError(f"{type(value).__name__} value {value!r} is not JSON")


def _feature_value(value: Any) -> Any:
    value = _json_value(value)
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, _TEXT_TYPES):
        return str(value)
    # Nested values are kept as their JSON text: a warehouse returns them as such.
    return json.dumps(value, default=_plain)


def _features(features: Mapping[str, Any]) -> dict[str, Any]:
    """The features as JSON scalars: numbers, text, booleans or ``None`` (NaN and infinities)."""
    try:
        return {str(name): _feature_value(value) for name, value in features.items()}
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"features cannot be logged as JSON: {exc}: pass plain values") from exc


class PredictionLogger(Resource):
    """Buffers predictions of one model version; a background thread writes them in batches.

    :meth:`log` only serialises the row and appends it to the buffer (tens of microseconds), so
    serving threads never wait for the warehouse. The writer thread inserts a batch as soon as
    ``batch_size`` rows wait or the oldest has waited ``max_delay`` seconds. When writes fail or
    are slower than predictions arrive, rows stay buffered up to ``max_buffered``; beyond that
    :meth:`log` pushes back (raises) instead of growing without bound or dropping data silently:
    the caller decides (the prediction server counts the row as dropped). Use it as a context
    manager, or call :meth:`close` at shutdown.

    Args:
        kit: the environment to log into.
        model_name: the registered model's name.
        model_version: the version that served the predictions.
        batch_size: rows per insert.
        max_delay: seconds a row may wait in the buffer before it is written.
        max_buffered: rows kept in memory while the warehouse refuses writes.
    """

    def __init__(
        self,
        kit: Kit,
        model_name: str,
        model_version: int,
        *,
        batch_size: int = 1000,
        max_delay: float = 5.0,
        max_buffered: int = 100_000,
    ) -> None:
        if batch_size < 1 or max_delay <= 0 or max_buffered < batch_size:
            raise ConfigError(
                f"invalid batching (batch_size={batch_size}, max_delay={max_delay}, "
                f"max_buffered={max_buffered}): use batch_size >= 1, max_delay > 0 and "
                "max_buffered >= batch_size"
            )
        self.sink = open_sink(kit)
        self.model_name = model_name
        self.model_version = int(model_version)
        self.batch_size = batch_size
        self.max_delay = max_delay
        self.max_buffered = max_buffered
        self._rows: list[Row] = []
        self._oldest = 0.0
        self._failure: str | None = None
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None
        self.written = 0

    def log(
        self,
        request_id: str,
        features: Mapping[str, Any],
        prediction: Any,
        score: float | None = None,
        timestamp: datetime | None = None,
    ) -> None:
        """Buffer one prediction for the writer thread.

        Raises:
            ConfigError: the features are not JSON-able or the timestamp is naive.
            BackendError: ``max_buffered`` rows are waiting (writes fail, or are too slow); this
                row is not buffered.
        """
        row = {
            "logged_at": utc(timestamp),
            "model_name": self.model_name,
            "model_version": self.model_version,
            "request_id": str(request_id),
            "features": _features(features),
            "prediction": str(_json_value(prediction)),
            "score": None if score is None else _json_value(float(score)),
        }
        with self._lock:
            if len(self._rows) >= self.max_buffered:
                why = (
                    f"because writing failed: {self._failure}"
                    if self._failure is not None
                    else "because writing is slower than predictions arrive: write bigger "
                    "batches, or raise max_buffered"
                )
                raise BackendError(f"{len(self._rows)} predictions are waiting {why}")
            if not self._rows:
                self._oldest = time.monotonic()
            self._rows.append(row)
            full = len(self._rows) >= self.batch_size
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_in_background, name="prediction-log-writer", daemon=True
                )
                self._writer.start()
        if full:
            self._wake.set()

    def flush(self) -> int:
        """Write every buffered row now; returns how many were written.

        Raises:
            BackendError: the write failed; the rows stay buffered for the next attempt.
        """
        with self._write_lock:
            with self._lock:
                rows, self._rows = self._rows, []
            if not rows:
                return 0
            try:
                self.sink.append(PREDICTION_LOG, rows)
            except BaseException:
                with self._lock:
                    self._rows[:0] = rows
                raise
            self.written += len(rows)
            return len(rows)

    def _write_in_background(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.max_delay / 2)
            self._wake.clear()
            with self._lock:
                waiting = len(self._rows)
                due = waiting >= self.batch_size
                due = due or (waiting > 0 and time.monotonic() - self._oldest >= self.max_delay)
            if due and not self._stop.is_set():
                try:
                    self.flush()
                    self._failure = None
                except BackendError as exc:
                    # Kept buffered; retried on the next wake-up, reported by log() and close().
                    self._failure = str(exc)

    @override
    def close(self) -> None:
        """Stop the writer thread and write what is buffered.

        Raises:
            BackendError: the last write failed; the rows are still buffered.
        """
        self._stop.set()
        self._wake.set()
        if self._writer is not None:
            self._writer.join()
            self._writer = None
        self.flush()


def log_ground_truth(
    kit: Kit,
    labels: Mapping[str, Any] | Iterable[tuple[str, Any]],
    timestamp: datetime | None = None,
) -> int:
    """Record observed outcomes by request id, in one insert; the latest label of a request wins.

    Returns:
        The number of labels written.

    Raises:
        ConfigError: the timestamp is naive.
        BackendError: the write failed; no label is stored.
    """
    pairs = labels.items() if isinstance(labels, Mapping) else labels
    logged_at = utc(timestamp)
    rows = [
        {"request_id": str(request_id), "label": str(_json_value(label)), "logged_at": logged_at}
        for request_id, label in pairs
    ]
    if rows:
        open_sink(kit).append(GROUND_TRUTH, rows)
    return len(rows)


def log_tables(kit: Kit) -> tuple[ir.Table, ir.Table | None]:
    """The prediction log and the ground truth (``None`` before the first label) as relations.

    Raises:
        NotFoundError: no prediction was ever logged in this environment.
    """
    sink = open_sink(kit)
    log = sink.relation(PREDICTION_LOG)
    if log is None:
        raise NotFoundError(
            f"no predictions logged in environment {kit.environment.name!r}: "
            "log them with mlops_kit.monitoring.PredictionLogger"
        )
    return log, sink.relation(GROUND_TRUTH)
