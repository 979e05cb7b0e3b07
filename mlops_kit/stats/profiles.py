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
columns, and for the others exact up to :data:`EXACT_DISTINCT_ROWS` rows; above, numeric columns
sum HyperLogLog estimates of their histogram's bins (each bin holds other values, so the sum
counts every value once, and small per-bin counts are estimated more closely than one count of the
whole column), and temporal columns take one estimate.

Two queries: the row count with each numeric and temporal column's range (answered from file
metadata where there is some: Parquet on the local twin), then one pass over the data, a union of
one grouped count per column: the numeric columns grouped by histogram bin, with each bin's
distinct count, mean and variance, from which the column's own combine exactly (numeric columns
without a histogram, such as those with infinite values, are aggregated whole); the categorical
columns grouped by value, cut to their top categories, with the number and total of all of them.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlops_kit.stats.bins import BINS, Bins, bin_numbers, binned, histogram, quantiles

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir

    from mlops_kit.warehouse import Warehouse

PROFILE_FORMAT = 3  # raised whenever a stored profile's statistics change meaning
TOP_K = 50
EXACT_DISTINCT_ROWS = 100_000
VALUE_GROUPS = 4096  # integer columns spanning fewer values are counted value by value

Profile = dict[str, Any]


def column_kind(dtype: Any) -> str:
    """``numeric``, ``categorical`` or ``temporal`` for an ibis data type."""
    if dtype.is_boolean() or dtype.is_string():
        return "categorical"
    if dtype.is_numeric():
        return "numeric"
    return "temporal"


def _float(value: Any) -> float | None:
    """``value`` as a float; None for none, NaN or infinity, which JSON cannot hold."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


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
    ``[min, max]``), they have no ``min``, ``max``, ``mean``, ``std`` or ``quantiles``, and their
    ``distinct`` tells a constant column (1) from others (more) without counting every value: each
    bin adds 1 if its values are equal, else 2. Null counts, the other columns' distinct counts
    and the top categories are those of :func:`profile`.

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
    kinds = [column_kind(dtype) for dtype in schema.values()]
    compared = {
        index: (reference or {})[name]
        for index, name in enumerate(schema)
        if kinds[index] == "numeric" and "histogram" in (reference or {}).get(name, {})
    }
    integer = [dtype.is_integer() for dtype in schema.values()]
    ranges = _ranges(warehouse, table, kinds, [i for i in compared if not integer[i]])
    row_count = int(ranges["rows"])
    exact = row_count <= EXACT_DISTINCT_ROWS
    bins = {index: Bins.of(column["histogram"]) for index, column in compared.items()}
    by_value: set[int] = set()
    for index, kind in enumerate(kinds):
        if kind != "numeric":
            continue
        low, high = _float(ranges.get(f"min{index}")), _float(ranges.get(f"max{index}"))
        # Infinite values leave a column without a histogram rather than without a profile.
        if low is None or high is None or not math.isfinite(high - low):
            continue
        if index not in compared:
            bins[index] = Bins.covering(low, high, integer=integer[index])
        if integer[index] and high - low < VALUE_GROUPS:
            by_value.add(index)
    parts = _parts(table, kinds, bins, by_value, compared, top_k, exact)
    rows: list[list[dict[str, Any]]] = [[] for _ in schema]
    if parts:
        for record in warehouse.execute(_union(parts)).to_pylist():
            rows[record["column"]].append(record)
    columns: dict[str, dict[str, Any]] = {}
    for index, (name, dtype) in enumerate(schema.items()):
        columns[name] = {
            "type": str(dtype),
            "kind": kinds[index],
            **_statistics(kinds[index], row_count, rows[index], bins.get(index), index in compared),
        }
        if kinds[index] == "temporal" or (kinds[index] == "numeric" and index not in compared):
            columns[name] |= _range(kinds[index], ranges, index)
    return {
        "format": PROFILE_FORMAT,
        "row_count": row_count,
        "settings": {
            "bins": f"aligned power-of-two widths, at most {BINS} bins",
            "top_k": top_k,
            "distinct": "exact"
            if exact
            else f"exact for categorical columns and for integers spanning under {VALUE_GROUPS}"
            " values, approximate for others",
            "quantiles": "interpolated in the histogram bins",
        },
        "columns": columns,
    }


def _ranges(
    warehouse: Warehouse, table: ibis.Table, kinds: Sequence[str], unranged: Collection[int]
) -> dict[str, Any]:
    """The row count (``rows``) and the ranges (``min{index}``, ``max{index}``) of some columns.

    Numeric columns need theirs to choose their bins and whether to count value by value (except
    the ``unranged`` ones, which have a reference's bins), temporal columns to show it. Parquet
    footers hold each row group's row count, minimum and maximum, so DuckDB answers this query
    without reading the values.
    """
    ranged = [
        index
        for index, kind in enumerate(kinds)
        if kind == "temporal" or (kind == "numeric" and index not in unranged)
    ]
    metrics = [table.count().name("rows")]
    for index in ranged:
        column = table[table.columns[index]]
        metrics += [column.min().name(f"min{index}"), column.max().name(f"max{index}")]
    row: dict[str, Any] = warehouse.execute(table.aggregate(metrics)).to_pylist()[0]
    return row


def _union(parts: Sequence[ibis.Table]) -> ibis.Table:
    import ibis

    return ibis.union(*parts)


# The columns of every part of the counting union: ``column`` is the column's index; ``bin`` a
# histogram bin, ``value`` a category, or neither for a column aggregated whole; ``n`` the values
# in it; ``present`` a categorical column's non-null values (its top rows hold only some).
_ROW = {
    "column": "int32",
    "bin": "int8",
    "value": "string",
    "n": "int64",
    "distinct": "int64",
    "present": "int64",
    "mean": "float64",
    "var": "float64",
    "out": "int64",
}


def _row(relation: ibis.Table, index: int) -> ibis.Table:
    """``relation`` as a part of the counting union, the columns it lacks null."""
    import ibis

    columns = relation.columns
    return relation.select(
        column=ibis.literal(index, "int32"),
        **{
            name: relation[name].cast(dtype) if name in columns else ibis.null(dtype)
            for name, dtype in _ROW.items()
            if name != "column"
        },
    )


def _parts(
    table: ibis.Table,
    kinds: Sequence[str],
    bins: Mapping[int, Bins],
    by_value: Collection[int],
    compared: Mapping[int, Mapping[str, Any]],
    top_k: int,
    exact: bool,
) -> list[ibis.Table]:
    """One part of the counting union per column (see the module docstring)."""
    import ibis

    parts: list[ibis.Table] = []
    for index, kind in enumerate(kinds):
        name = table.columns[index]
        if kind == "categorical":
            present = table.filter(table[name].notnull())
            grouped = present.group_by(value=present[name].cast("string")).agg(n=present.count())
            # Counting and summing the groups gives the exact distinct and non-null counts.
            whole = ibis.window()
            top = (
                grouped.mutate(
                    distinct=grouped.n.count().over(whole), present=grouped.n.sum().over(whole)
                )
                .order_by([ibis.desc("n"), "value"])
                .limit(top_k)
            )
            parts.append(_row(top, index))
            continue

        def statistics(
            column: ir.Column, kind: str = kind, index: int = index
        ) -> dict[str, ir.Scalar]:
            return _column_statistics(column, kind, exact, compared.get(index))

        if index in by_value:
            parts.append(_row(_values(table, name, bins[index], compared.get(index)), index))
        elif index in bins:
            parts.append(_row(binned(table, name, bins[index], statistics), index))
        else:
            present = table.filter(table[name].notnull())
            whole = present.aggregate(n=present.count(), **statistics(present[name]))
            parts.append(_row(whole, index))
    return parts


def _values(
    table: ibis.Table, name: str, bins: Bins, reference: Mapping[str, Any] | None
) -> ibis.Table:
    """The values of a narrow integer column counted one by one, with their bin.

    Cheaper than a distinct-count estimate per bin, and exact: each value is a part of one
    distinct value and no variance.
    """
    import ibis

    present = table.filter(table[name].notnull())
    grouped = present.group_by(number=present[name]).agg(n=present.count())
    value = grouped.number.cast("float64")
    statistics: dict[str, ir.Value] = {"distinct": ibis.literal(1, "int64")}
    if reference is None:
        statistics["mean"] = value  # and no variance (null): every value of the row is equal
    else:
        outside = (value < reference["min"]) | (value > reference["max"])
        statistics["out"] = outside.cast("int64") * grouped.n
    return grouped.select(bin=bin_numbers(grouped.number, bins), n=grouped.n, **statistics)


def _column_statistics(
    column: ir.Column, kind: str, exact: bool, reference: Mapping[str, Any] | None
) -> dict[str, ir.Scalar]:
    """The aggregates of a numeric or temporal column's values (of one bin, or all of them)."""
    import ibis

    if reference is not None:
        # A comparison reads whether the column is constant: 1 for a bin of equal values, 2 for
        # others, far cheaper than counting (or estimating) its distinct values.
        value = column.cast("float64")
        outside = (value < reference["min"]) | (value > reference["max"])
        several = (column.max() != column.min()).cast("int64") + 1
        return {"distinct": several, "out": outside.sum()}
    statistics = {"distinct": column.nunique() if exact else column.approx_nunique()}
    if kind != "numeric":
        return statistics
    value = column.cast("float64")
    # A variance of infinite or NaN values is an error in DuckDB: they are left out of it, and
    # the mean they make infinite or NaN leaves the column without a deviation (_moments).
    finite = (
        ibis.ifelse(value.isnan() | value.isinf(), ibis.null("float64"), value)
        if column.type().is_floating()
        else value
    )
    return statistics | {"mean": value.mean(), "var": finite.var(how="pop")}


def _statistics(
    kind: str, row_count: int, rows: Sequence[Mapping[str, Any]], bins: Bins | None, compared: bool
) -> dict[str, Any]:
    """A column's counts, from its rows of the counting union."""
    if kind == "categorical":
        present = int(rows[0]["present"]) if rows else 0
        top = sorted(
            ([row["value"], int(row["n"])] for row in rows), key=lambda item: (-item[1], item[0])
        )
        statistics: dict[str, Any] = {"distinct": int(rows[0]["distinct"]) if rows else 0}
    else:
        present = sum(int(row["n"]) for row in rows)
        statistics = {"distinct": sum(int(row["distinct"] or 0) for row in rows)}
    nulls = row_count - present
    statistics = {
        "nulls": nulls,
        "null_rate": nulls / row_count if row_count else 0.0,
        **statistics,
    }
    if kind == "categorical":
        return statistics | {"top": top, "other": present - sum(count for _, count in top)}
    if bins is not None:
        statistics["histogram"] = histogram(
            bins, ((int(row["bin"]), int(row["n"])) for row in rows)
        )
    if kind != "numeric":
        return statistics
    if compared:
        return statistics | {"out_of_range": sum(int(row["out"] or 0) for row in rows)}
    statistics |= _moments(rows)
    if bins is not None:
        statistics["quantiles"] = quantiles(statistics["histogram"])
    return statistics


def _moments(rows: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """The mean and sample standard deviation of the values of ``rows`` (count, mean, variance).

    Combined as Chan et al.'s parallel variance: the sum of each part's squared deviations from
    its own mean, plus its count times its mean's squared deviation from the overall mean. Sums
    are exactly rounded (``fsum``), so the result does not depend on the order of the parts, and
    weighted by each part's share, so that no partial sum of the mean exceeds its largest value.
    """
    parts = [(int(row["n"]), row["mean"], row["var"] or 0.0) for row in rows if row["n"]]
    count = sum(n for n, _, _ in parts)
    if not count:
        return {"mean": None, "std": None}
    mean = math.fsum(n / count * part_mean for n, part_mean, _ in parts)
    if count == 1 or not math.isfinite(mean):
        return {"mean": _float(mean), "std": None}
    try:
        variance = math.fsum(
            n / (count - 1) * (var + (part_mean - mean) * (part_mean - mean))
            for n, part_mean, var in parts
        )
    except OverflowError:  # a variance beyond the largest float, as the warehouse's would be
        variance = math.inf
    return {"mean": _float(mean), "std": _float(math.sqrt(variance))}


def _range(kind: str, ranges: Mapping[str, Any], index: int) -> dict[str, Any]:
    """A numeric or temporal column's ``min`` and ``max`` (ISO text for temporal columns)."""
    low, high = ranges.get(f"min{index}"), ranges.get(f"max{index}")
    if kind == "numeric":
        return {"min": _float(low), "max": _float(high)}
    return {
        key: None if value is None else value.isoformat()
        for key, value in (("min", low), ("max", high))
    }
