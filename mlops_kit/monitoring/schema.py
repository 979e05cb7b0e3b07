"""The warehouse tables monitoring writes: the prediction log and the ground truth that follows it.

The infrastructure provisions the same tables in BigQuery from these constants (a test compares
them), and the local twin creates them on first write.
"""

from __future__ import annotations

from typing import Final

from mlops_kit.warehouse import TableSchema

PREDICTION_LOG: Final = TableSchema(
    name="prediction_log",
    columns=(
        ("logged_at", "TIMESTAMP"),
        ("model_name", "STRING"),
        ("model_version", "INT64"),
        ("request_id", "STRING"),
        ("features", "JSON"),
        ("prediction", "STRING"),
        ("score", "FLOAT64"),
    ),
    partition_by="logged_at",
    cluster_by=("model_name", "model_version"),
)
"""One row per served prediction; ``score`` is the probability of the positive class (or NULL)."""

GROUND_TRUTH: Final = TableSchema(
    name="ground_truth",
    columns=(("request_id", "STRING"), ("label", "STRING"), ("logged_at", "TIMESTAMP")),
    partition_by="logged_at",
)
"""The observed outcome of a request, logged when it becomes known; the latest row wins."""
