"""The local twin's warehouse: one DuckDB database file."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from typing_extensions import override

from mlops_kit.errors import BackendError, ConfigError
from mlops_kit.warehouse import Warehouse


class DuckDBWarehouse(Warehouse):
    """A warehouse in a DuckDB file, ``duckdb:///absolute/path/warehouse.duckdb``."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        parts = urlsplit(uri)
        if parts.netloc or not parts.path:
            raise ConfigError(
                f"malformed DuckDB URI {uri!r}: use 'duckdb:///absolute/path/warehouse.duckdb'"
            )
        self.path = Path(unquote(parts.path))

    @override
    def check(self) -> str:
        import duckdb

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with duckdb.connect(str(self.path)) as connection:
                connection.execute("SELECT 1").fetchall()
        except (OSError, duckdb.Error) as exc:
            raise BackendError(f"cannot open DuckDB warehouse {self.path}: {exc}") from exc
        return f"DuckDB {duckdb.__version__} at {self.path}"
