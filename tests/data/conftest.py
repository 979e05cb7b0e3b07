"""Fixtures of the data-versioning tests: a kit on the local twin with a chosen metadata database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from mlops_kit.kit import Kit


@pytest.fixture
def kit(tmp_path: Path, metadata_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Kit]:
    """A local-twin kit whose metadata lives on SQLite, then on the real PostgreSQL."""
    monkeypatch.chdir(tmp_path)
    with Kit.open(
        "local", warehouse=f"duckdb://{tmp_path / 'wh' / 'warehouse.duckdb'}", metadata=metadata_url
    ) as opened:
        yield opened


def write(path: Path, sql: str) -> Path:
    """Write the result of DuckDB ``sql`` to ``path`` (format by suffix)."""
    duckdb.connect().execute(f"COPY ({sql}) TO '{path}'")
    return path


CHURN_V1 = (
    "SELECT range AS customer_id, 1 + range % 72 AS tenure, "
    "round(20 + (range % 100) * 0.8, 2)::DOUBLE AS monthly_charges, range % 9 AS support_calls, "
    "['month', 'year', 'two_year'][1 + range % 3] AS contract, range % 4 = 0 AS churned "
    "FROM range(3000)"
)
# The data-prep change of the incident: text leaks into two numeric features.
CHURN_V2 = (
    "SELECT range AS customer_id, "
    "CASE WHEN range % 40 = 0 THEN 'unknown' ELSE (1 + range % 72)::VARCHAR END AS tenure, "
    "CASE WHEN range % 25 = 0 THEN 'N/A' WHEN range % 61 = 0 THEN '#VALUE!' "
    "ELSE round(20 + (range % 100) * 0.8, 2)::VARCHAR END AS monthly_charges, "
    "range % 9 AS support_calls, "
    "['month', 'year', 'two_year'][1 + range % 3] AS contract, range % 4 = 0 AS churned "
    "FROM range(3000)"
)
