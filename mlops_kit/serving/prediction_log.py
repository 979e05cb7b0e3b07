"""Every prediction a server makes, logged with the version that made it.

One :class:`~mlops_kit.monitoring.PredictionLogger` per model version served, kept until shutdown:
a request still in flight on the old version after a swap logs to the old version's logger,
which stays open, so no row is lost or attributed to the wrong version.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlops_kit.errors import BackendError, ConfigError, first_line

if TYPE_CHECKING:
    from mlops_kit.kit import Kit
    from mlops_kit.monitoring import PredictionLogger
    from mlops_kit.serving.metrics import ServingMetrics
    from mlops_kit.serving.settings import ServingSettings

log = logging.getLogger("mlops_kit.serving")


class ServedPredictionLog:
    """The prediction log of one serving process.

    Args:
        kit: the environment whose warehouse receives the log.
        model: the model's name.
        settings: batching of the log.
        metrics: where dropped rows are counted.
    """

    def __init__(
        self, kit: Kit, model: str, settings: ServingSettings, metrics: ServingMetrics
    ) -> None:
        self.kit = kit
        self.model = model
        self.settings = settings
        self.metrics = metrics
        self._loggers: dict[int, PredictionLogger] = {}
        self._lock = threading.Lock()
        self.handed_over = 0
        metrics.watch_log_queue(self.depth)

    def _logger(self, version: int) -> PredictionLogger:
        from mlops_kit.monitoring import PredictionLogger

        with self._lock:
            logger = self._loggers.get(version)
            if logger is None:
                logger = PredictionLogger(
                    self.kit,
                    self.model,
                    version,
                    batch_size=self.settings.log_batch_size,
                    max_delay=self.settings.log_max_delay,
                    max_buffered=self.settings.log_max_buffered,
                )
                self._loggers[version] = logger
            return logger

    def log(
        self,
        version: int,
        request_ids: Sequence[str],
        rows: Sequence[dict[str, Any]],
        predictions: Sequence[Any],
        scores: Sequence[float] | None,
        logged_at: datetime | None = None,
    ) -> None:
        """Buffer one row per instance; a row the log refuses is counted as dropped, never raised.

        ``logged_at`` is when the instances were seen (replayed traffic); default now.
        """
        logger = self._logger(version)
        for i, (request_id, row) in enumerate(zip(request_ids, rows, strict=True)):
            try:
                score = None if scores is None else scores[i]
                logger.log(request_id, row, predictions[i], score, logged_at)
            except (BackendError, ConfigError) as exc:
                self.metrics.log_rows_dropped.inc()
                log.error("prediction %s not logged: %s", request_id, first_line(exc))
                continue
            self.handed_over += 1

    def depth(self) -> float:
        """Rows handed to the loggers and not written yet."""
        with self._lock:
            written = sum(logger.written for logger in self._loggers.values())
        return float(self.handed_over - written)

    def close(self) -> None:
        """Write every buffered row (at shutdown); a failed write is logged, rows counted dropped."""
        with self._lock:
            loggers = list(self._loggers.values())
        for logger in loggers:
            try:
                logger.close()
            except BackendError as exc:
                waiting = self.depth()
                self.metrics.log_rows_dropped.inc(waiting)
                log.error("%d predictions not logged at shutdown: %s", waiting, first_line(exc))
