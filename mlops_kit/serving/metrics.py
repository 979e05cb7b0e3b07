"""The prediction server's Prometheus metrics, in a registry of its own (one per app)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip
"""Seconds: a small tabular model answers in milliseconds; the upper buckets catch stalls."""

_Metric = TypeVar("_Metric", Counter, Gauge, Histogram)


class ServingMetrics:
    """Requests, latency, the version served, the prediction log's backlog and load failures."""

    def __init__(self, model: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = self._metric(
            Counter, "requests", "HTTP requests by route and status code.", ["route", "status"]
        )
        self.latency = self._metric(
            Histogram,
            "request_seconds",
            "Time from request to response, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
        )
        self.predictions = self._metric(
            Counter, "predictions", "Instances predicted, by model version.", ["version"]
        )
        self.model_version = self._metric(
            Gauge,
            "model_version",
            "The model version being served (0 before the first load).",
            ["model"],
        ).labels(model)
        self.load_failures = self._metric(
            Counter,
            "model_load_failures",
            "Versions that failed to download, verify or load (not swapped in).",
            ["version"],
        )
        self.log_queue_depth = self._metric(
            Gauge,
            "prediction_log_queue_depth",
            "Logged predictions waiting for their batch to be written.",
        )
        self.log_rows_dropped = self._metric(
            Counter,
            "prediction_log_rows_dropped",
            "Predictions that could not be logged (the log refused more buffered rows).",
        )

    def _metric(
        self,
        kind: type[_Metric],
        name: str,
        documentation: str,
        labels: Sequence[str] = (),
        **options: Any,
    ) -> _Metric:
        """The metric ``mlops_kit_serving_NAME`` of ``kind``, in this server's registry."""
        return kind(
            f"mlops_kit_serving_{name}",
            documentation,
            labels,
            registry=self.registry,
            **options,
        )

    def watch_log_queue(self, depth: Callable[[], float]) -> None:
        """Read the log's backlog from ``depth`` at each scrape."""
        self.log_queue_depth.set_function(depth)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
