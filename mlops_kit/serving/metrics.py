"""The prediction server's Prometheus metrics, in a registry of its own (one per app)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

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


class ServingMetrics:
    """Requests, latency, the version served, the prediction log's backlog and load failures."""

    def __init__(self, model: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "mlops_kit_serving_requests",
            "HTTP requests by route and status code.",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mlops_kit_serving_request_seconds",
            "Time from request to response, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "mlops_kit_serving_predictions",
            "Instances predicted, by model version.",
            ["version"],
            registry=self.registry,
        )
        self.model_version = Gauge(
            "mlops_kit_serving_model_version",
            "The model version being served (0 before the first load).",
            ["model"],
            registry=self.registry,
        ).labels(model)
        self.load_failures = Counter(
            "mlops_kit_serving_model_load_failures",
            "Versions that failed to download, verify or load (not swapped in).",
            ["version"],
            registry=self.registry,
        )
        self.log_queue_depth = Gauge(
            "mlops_kit_serving_prediction_log_queue_depth",
            "Logged predictions waiting for their batch to be written.",
            registry=self.registry,
        )
        self.log_rows_dropped = Counter(
            "mlops_kit_serving_prediction_log_rows_dropped",
            "Predictions that could not be logged (the log refused more buffered rows).",
            registry=self.registry,
        )

    def watch_log_queue(self, depth: Callable[[], float]) -> None:
        """Read the log's backlog from ``depth`` at each scrape."""
        self.log_queue_depth.set_function(depth)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
