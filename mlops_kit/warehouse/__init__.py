"""The warehouse role: where dataset versions and prediction logs live and statistics run.

Backends by scheme: ``duckdb://`` (the local twin, a DuckDB file) and ``bigquery://PROJECT/DATASET``.
"""

from __future__ import annotations

from mlops_kit.backends import Backend, SchemeRegistry


class Warehouse(Backend):
    """A SQL warehouse that stores dataset versions and computes statistics where the data is."""


WAREHOUSES: SchemeRegistry[Warehouse] = SchemeRegistry("warehouse", Warehouse)
WAREHOUSES.register(["duckdb"], "mlops_kit.warehouse.duckdb:DuckDBWarehouse")
WAREHOUSES.register(["bigquery"], "mlops_kit.warehouse.bigquery:BigQueryWarehouse")


def open_warehouse(uri: str) -> Warehouse:
    """Return the warehouse backend for ``uri``.

    Raises:
        UnknownSchemeError: no backend serves the URI's scheme.
    """
    return WAREHOUSES.resolve(uri)(uri)
