"""The warehouse tables monitoring writes: the prediction log and the ground truth that follows it.

The infrastructure provisions the same tables in BigQuery from these constants (a test compares
them), and the local twin creates them in DuckDB on first write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# BigQuery type of each column, and the DuckDB type the local twin uses for it.
_DUCKDB_TYPES: Final = {
    "TIMESTAMP": "TIMESTAMPTZ",
    "STRING": "VARCHAR",
    "INT64": "BIGINT",
    "FLOAT64": "DOUBLE",
    "JSON": "JSON",
}


@dataclass(frozen=True)
class TableSchema:
    """A warehouse table: columns with BigQuery types, DAY partitioning and clustering."""

    name: str
    columns: tuple[tuple[str, str], ...]
    """``(column, BigQuery type)`` in table order."""
    partition_by: str
    """The TIMESTAMP column the table is partitioned on, by DAY."""
    cluster_by: tuple[str, ...] = ()

    @property
    def column_names(self) -> list[str]:
        """The column names in table order."""
        return [name for name, _type in self.columns]

    def duckdb_ddl(self, qualified_name: str) -> str:
        """``CREATE TABLE IF NOT EXISTS`` for the local twin."""
        columns = ", ".join(f'"{name}" {_DUCKDB_TYPES[kind]}' for name, kind in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {qualified_name} ({columns})"

    def ibis_schema(self) -> dict[str, str]:
        """The column types as ibis type names (for expressions on the unbound table)."""
        types = {
            "TIMESTAMP": "timestamp('UTC')",
            "STRING": "string",
            "INT64": "int64",
            "FLOAT64": "float64",
            "JSON": "json",
        }
        return {name: types[kind] for name, kind in self.columns}


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
