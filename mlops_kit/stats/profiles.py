"""Per-column profiles: the statistics a dataset version stores and a comparison reads.

A profile is ``{"format", "row_count", "settings", "columns": {name: column profile}}``, where
``format`` is :data:`PROFILE_FORMAT`, so that profiles stored by an earlier release, whose
statistics meant something else, are recognised and computed again. A column profile has
``type``, ``kind`` (``numeric`` | ``categorical`` | ``temporal``), ``nulls``, ``null_rate``,
``distinct``; numeric columns add ``min``, ``max``, ``mean``, ``std``, ``quantiles``
(``{"0.01": v, …, "0.99": v}``, see :func:`~mlops_kit.stats.bins.quantiles`) and ``histogram``
(see :mod:`mlops_kit.stats.bins`); categorical columns (strings, booleans) add ``top`` (``[[value,
count], …]``, most frequent first) and ``other`` (count of non-null values outside ``top``);
temporal columns add ``min`` and ``max`` as ISO text. Distinct counts are exact for categorical
columns, and for the others exact up to :data:`EXACT_DISTINCT_ROWS` rows, HyperLogLog estimates
above.

Three queries: the row count (with the numeric ranges where file metadata answers them: Parquet on
the local twin), the other aggregates, then one union of per-column counts for the histograms and
top categories.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlops_kit.stats.bins import BINS, Bins, counts, quantiles

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir

    from mlops_kit.warehouse import Warehouse

PROFILE_FORMAT = 2  # raised whenever a stored profile's statistics change meaning
TOP_K = 50
EXACT_DISTINCT_ROWS = 100_000

Profile = dict[str, Any]


def column_kind(dtype: Any) -> str:
    """``numeric``, ``categorical`` or ``temporal`` for an ibis data type."""
    if dtype.is_boolean() or dtype.is_string():
        return "categorical"
    if dtype.is_numeric():
        return "numeric"
    return "temporal"


def _float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def profile(warehouse: Warehouse, table: ibis.Table, *, top_k: int = TOP_K) -> Profile:
    """Per-column statistics of ``table`` (see the module docstring for the shape).

    Raises:
        BackendError: a query failed.
    """
    return _profile(warehouse, table, top_k, None)


def compared_profile(
    warehouse: Warehouse,
    table: ibis.Table,
    reference: Mapping[str, Mapping[str, Any]],
    *,
    top_k: int = TOP_K,
) -> Profile:
    """What a comparison with the ``reference`` column profiles reads of ``table``'s profile.

    The shape of :func:`profile`, except for the numeric columns that have a reference histogram:
    they are binned on its bins and count their ``out_of_range`` values (outside the reference's
    ``[min, max]``), and they have no ``min``, ``max``, ``mean``, ``std`` or ``quantiles``. Null
    counts, distinct counts and the top categories are those of :func:`profile`.

    Raises:
        BackendError: a query failed.
    """
    return _profile(warehouse, table, top_k, reference)


def _profile(
    warehouse: Warehouse,
    table: ibis.Table,
    top_k: int,
    reference: Mapping[str, Mapping[str, Any]] | None,
) -> Profile:
    """:func:`profile`, or with ``reference`` columns :func:`compared_profile`."""
    schema = table.schema()
    compared = {
        name: column
        for name, column in (reference or {}).items()
        if name in schema and column_kind(schema[name]) == "numeric" and "histogram" in column
    }
    row = _aggregates(warehouse, table, compared)
    row_count = int(row["rows"])
    columns: dict[str, dict[str, Any]] = {}
    bins: dict[str, Bins] = {}
    for index, (name, dtype) in enumerate(schema.items()):
        columns[name], grid = _column(row, index, dtype, compared.get(name))
        if grid is not None:
            bins[name] = grid
    _add_counts(warehouse, table, columns, bins, top_k, row_count, compared)
    exact = row_count <= EXACT_DISTINCT_ROWS
    return {
        "format": PROFILE_FORMAT,
        "row_count": row_count,
        "settings": {
            "bins": f"aligned power-of-two widths, at most {BINS} bins",
            "top_k": top_k,
            "distinct": "exact" if exact else "exact for categorical, approximate for others",
            "quantiles": "interpolated in the histogram bins",
        },
        "columns": columns,
    }


def _aggregates(
    warehouse: Warehouse, table: ibis.Table, compared: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """The row count (``rows``) and each column's aggregates, named by the column's index."""
    schema = table.schema()
    # The ranges that choose the histogram bins go with the row count where file metadata answers
    # them without reading the values (Parquet on the local twin); elsewhere with the other
    # aggregates, so that each column is read once before the histograms.
    ranges: list[ir.Scalar] = []
    for index, (name, dtype) in enumerate(schema.items()):
        if column_kind(dtype) == "numeric" and name not in compared:
            ranges += [table[name].min().name(f"min{index}"), table[name].max().name(f"max{index}")]
    # A row count is free on both warehouses, and says whether distinct counts can be exact.
    first = [table.count().name("rows"), *(ranges if warehouse.ranges_from_metadata else [])]
    row: dict[str, Any] = warehouse.execute(table.aggregate(first)).to_pylist()[0]
    exact = int(row["rows"]) <= EXACT_DISTINCT_ROWS
    metrics: list[ir.Scalar] = [] if warehouse.ranges_from_metadata else [*ranges]
    for index, (name, dtype) in enumerate(schema.items()):
        metrics += _metrics(table[name], index, column_kind(dtype), exact, compared.get(name))
    if row["rows"]:
        row |= warehouse.execute(table.aggregate(metrics)).to_pylist()[0]
    return row


def _metrics(
    column: ir.Column, index: int, kind: str, exact: bool, reference: Mapping[str, Any] | None
) -> list[ir.Scalar]:
    """The aggregates of one column besides its range (see :func:`_aggregates`)."""
    metrics = [column.count().name(f"n{index}")]
    if kind == "categorical":
        return metrics
    metrics.append((column.nunique() if exact else column.approx_nunique()).name(f"d{index}"))
    if kind == "numeric" and reference is not None:
        value = column.cast("float64")
        outside = (value < reference["min"]) | (value > reference["max"])
        metrics.append(outside.sum().name(f"out{index}"))
    elif kind == "numeric":
        value = column.cast("float64")
        metrics += [value.mean().name(f"mean{index}"), value.std().name(f"std{index}")]
    else:
        metrics += [column.min().name(f"min{index}"), column.max().name(f"max{index}")]
    return metrics


def _column(
    row: Mapping[str, Any], index: int, dtype: Any, reference: Mapping[str, Any] | None
) -> tuple[dict[str, Any], Bins | None]:
    """One column's profile from the aggregates ``row``, and the bins of its histogram if any."""
    row_count = int(row["rows"])
    count = int(row.get(f"n{index}") or 0)
    kind = column_kind(dtype)
    stats: dict[str, Any] = {
        "type": str(dtype),
        "kind": kind,
        "nulls": row_count - count,
        "null_rate": (row_count - count) / row_count if row_count else 0.0,
        "distinct": int(row.get(f"d{index}") or 0),
    }
    if kind == "numeric" and reference is not None:
        stats["out_of_range"] = int(row.get(f"out{index}") or 0)
        return stats, Bins.of(reference["histogram"])
    if kind == "numeric":
        low, high = _float(row.get(f"min{index}")), _float(row.get(f"max{index}"))
        stats |= {
            "min": low,
            "max": high,
            "mean": _float(row.get(f"mean{index}")),
            "std": _float(row.get(f"std{index}")),
        }
        # Infinite values leave a column without a histogram rather than without a profile.
        if low is not None and high is not None and math.isfinite(high - low):
            return stats, Bins.covering(low, high, integer=dtype.is_integer())
    elif kind == "temporal":
        for key in ("min", "max"):
            value = row.get(f"{key}{index}")
            stats[key] = None if value is None else value.isoformat()
    return stats, None


def _add_counts(
    warehouse: Warehouse,
    table: ibis.Table,
    columns: Mapping[str, dict[str, Any]],
    bins: Mapping[str, Bins],
    top_k: int,
    row_count: int,
    compared: Mapping[str, Any],
) -> None:
    """Add the histograms, quantiles and top categories to the ``columns`` profiles."""
    categorical = [name for name, stats in columns.items() if stats["kind"] == "categorical"]
    histogram, top, distinct_categories = counts(warehouse, table, bins, categorical, top_k)
    for name, stats in columns.items():
        if name in histogram:
            stats["histogram"] = histogram[name]
            if name not in compared:
                stats["quantiles"] = quantiles(histogram[name])
        if name in top:
            stats["top"] = top[name]
            stats["distinct"] = distinct_categories[name]
            non_null = row_count - stats["nulls"]
            stats["other"] = non_null - sum(count for _, count in top[name])
