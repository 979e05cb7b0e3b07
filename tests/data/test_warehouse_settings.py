"""DuckDB resource settings given on the local warehouse's URI."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from mlops_kit.errors import ConfigError
from mlops_kit.warehouse import WAREHOUSES, Source


def _setting(connection: duckdb.DuckDBPyConnection, name: str) -> str:
    row = connection.execute(f"SELECT current_setting('{name}')").fetchone()
    assert row is not None
    return str(row[0])


def test_uri_settings_apply_to_every_connection(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    warehouse = WAREHOUSES.open(f"duckdb://{path}?memory_limit=512MB&threads=1")
    warehouse.check()
    for connection in (warehouse._connection, warehouse._source_connection()):  # type: ignore[attr-defined]
        assert _setting(connection, "memory_limit") == "488.2 MiB"
        assert _setting(connection, "threads") == "1"
        assert _setting(connection, "temp_directory") == str(tmp_path / ".duckdb-spill")
    source = tmp_path / "rows.parquet"
    duckdb.connect().execute(f"COPY (SELECT range AS x FROM range(10)) TO '{source}'")
    assert warehouse.stage("d", Source(path=source)).row_count == 10


def test_memory_is_limited_by_default(tmp_path: Path) -> None:
    warehouse = WAREHOUSES.open(f"duckdb://{tmp_path / 'warehouse.duckdb'}")
    assert _setting(warehouse._connection, "memory_limit") == "1.8 GiB"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("memory_limit=lots", "invalid DuckDB setting memory_limit='lots'"),
        ("threads=0", "invalid DuckDB setting threads='0'"),
        ("threads=2&threads=3", "give it once"),
        ("cache=1GB", "unknown DuckDB setting 'cache'"),
    ],
)
def test_a_bad_setting_is_a_one_line_error(tmp_path: Path, query: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        WAREHOUSES.open(f"duckdb://{tmp_path / 'warehouse.duckdb'}?{query}")
    assert message in str(caught.value) and "\n" not in str(caught.value)
