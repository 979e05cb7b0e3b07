"""Column statistics computed where the data is, shared by data versioning, monitoring and model compare.

Every statistic is an ibis expression over a :meth:`~mlops_kit.warehouse.Warehouse.table` relation,
run by :meth:`~mlops_kit.warehouse.Warehouse.execute`: the same expression compiles to DuckDB SQL for
the local twin and to BigQuery SQL in the cloud, and only aggregates travel back. The drift measures
are then small arithmetic on those aggregates.

Functions (all results are JSON-able dicts, stored as they are in manifests):

- :func:`profile` — ``{"row_count", "settings", "columns": {name: column profile}}``. A column profile
  has ``type``, ``kind`` (``numeric`` | ``categorical`` | ``temporal``), ``nulls``, ``null_rate``,
  ``distinct``; numeric columns add ``min``, ``max``, ``mean``, ``std``, ``quantiles``
  (``{"0.01": v, …, "0.99": v}``, see :func:`quantiles`) and ``histogram`` (see :func:`histograms`);
  categorical columns (strings, booleans) add ``top`` (``[[value, count], …]``, most frequent
  first) and ``other`` (count of non-null values outside ``top``); temporal columns add ``min`` and
  ``max`` as ISO text.
  Two queries: one aggregate, then one union of per-column counts.
- :func:`compared_profile` — the profile as a comparison reads it: numeric columns binned on the
  reference's ranges, without their own range, moments and quantiles. Two queries.
- :func:`histograms` — ``{column: {"lo", "hi", "counts": [BINS ints], "below", "above"}}``: equal-width
  bins over ``[lo, hi]`` (the reference's range when comparing), values outside counted apart. One query.
- :func:`conformance` — ``{column: {"expected", "actual", "checked", "nonconforming", "examples":
  [[value, count], …]}}`` for every text column whose expected type is numeric, boolean or temporal:
  values that do not parse as the expected type (text in a numeric column). One query.
- :func:`quantiles` — the quantiles of a histogram.
- :func:`psi`, :func:`ks`, :func:`jensen_shannon` — drift between two histograms / category counts.
- :func:`column_drift` — the drift of one column between two profiles (plus the current histogram at
  the reference's bins for numeric columns): ``{"test", "value", ...}``.

Binning, stated because drift values depend on it: numeric histograms have :data:`BINS` equal-width
bins over the reference's ``[min, max]``, plus an underflow and an overflow bin. PSI uses ≤ 10 groups
of consecutive bins holding ≈ 10 % of the reference each (reference-decile bins at 1 % resolution)
plus the underflow and overflow bins; shares are floored at :data:`SHARE_FLOOR`. KS is the binned
two-sample statistic (largest CDF gap at the bin edges) with the asymptotic p-value. Jensen–Shannon is
the distance (square root of the base-2 divergence, in [0, 1]) over the union of both top-``k``
categories plus one bucket for the rest. Quantiles are interpolated in the histogram (within one
bin width, identical on every warehouse, and free: a sorting quantile costs more than the whole
profile); distinct counts are exact for categorical columns, and for the others exact up to
:data:`EXACT_DISTINCT_ROWS` rows, HyperLogLog estimates above.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir

    from mlops_kit.warehouse import Warehouse

BINS = 100
TOP_K = 50
EXAMPLES = 5
QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
EXACT_DISTINCT_ROWS = 100_000
SHARE_FLOOR = 1e-4
PSI_GROUPS = 10

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
    ranges: Mapping[str, tuple[float, float]],
    *,
    top_k: int = TOP_K,
) -> Profile:
    """What a comparison with a reference reads of ``table``'s profile, in the same two queries.

    The shape of :func:`profile`, except that numeric columns are binned on the given ``(lo, hi)``
    ranges (the reference's, as :func:`histograms` does) and have no ``min``, ``max``, ``mean``,
    ``std`` or ``quantiles``; a numeric column without a range has no ``histogram``. Null counts,
    distinct counts and the top categories are those of :func:`profile`.

    Raises:
        BackendError: a query failed.
    """
    return _profile(warehouse, table, top_k, ranges)


def _profile(
    warehouse: Warehouse,
    table: ibis.Table,
    top_k: int,
    given: Mapping[str, tuple[float, float]] | None,
) -> Profile:
    """:func:`profile`, or with ``given`` ranges :func:`compared_profile`."""
    schema = table.schema()
    row_count = int(warehouse.execute(table.aggregate(n=table.count()))["n"][0].as_py())
    exact = row_count <= EXACT_DISTINCT_ROWS
    metrics: list[ir.Scalar] = []
    for index, (name, dtype) in enumerate(schema.items()):
        column = table[name]
        kind = column_kind(dtype)
        metrics.append(column.count().name(f"n{index}"))
        if kind != "categorical":
            distinct = column.nunique() if exact else column.approx_nunique()
            metrics.append(distinct.name(f"d{index}"))
        if kind == "numeric" and given is None:
            value = column.cast("float64")
            metrics += [
                value.min().name(f"min{index}"),
                value.max().name(f"max{index}"),
                value.mean().name(f"mean{index}"),
                value.std().name(f"std{index}"),
            ]
        elif kind == "temporal":
            metrics += [column.min().name(f"min{index}"), column.max().name(f"max{index}")]
    row = warehouse.execute(table.aggregate(metrics)).to_pylist()[0] if row_count else {}
    columns: dict[str, dict[str, Any]] = {}
    ranges: dict[str, tuple[float, float]] = {}
    for index, (name, dtype) in enumerate(schema.items()):
        count = int(row.get(f"n{index}") or 0)
        kind = column_kind(dtype)
        stats: dict[str, Any] = {
            "type": str(dtype),
            "kind": kind,
            "nulls": row_count - count,
            "null_rate": (row_count - count) / row_count if row_count else 0.0,
            "distinct": int(row.get(f"d{index}") or 0),
        }
        if kind == "numeric" and given is not None:
            if name in given:
                ranges[name] = given[name]
        elif kind == "numeric":
            stats |= {
                "min": _float(row.get(f"min{index}")),
                "max": _float(row.get(f"max{index}")),
                "mean": _float(row.get(f"mean{index}")),
                "std": _float(row.get(f"std{index}")),
            }
            if stats["min"] is not None:
                ranges[name] = (stats["min"], stats["max"])
        elif kind == "temporal":
            for key in ("min", "max"):
                value = row.get(f"{key}{index}")
                stats[key] = None if value is None else value.isoformat()
        columns[name] = stats
    categorical = [name for name, stats in columns.items() if stats["kind"] == "categorical"]
    histogram, top, distinct_categories = _counts(warehouse, table, ranges, categorical, top_k)
    for name, stats in columns.items():
        if name in histogram:
            stats["histogram"] = histogram[name]
            if given is None:
                stats["quantiles"] = quantiles(histogram[name])
        if name in top:
            stats["top"] = top[name]
            stats["distinct"] = distinct_categories[name]
            non_null = row_count - stats["nulls"]
            stats["other"] = non_null - sum(count for _, count in top[name])
    return {
        "row_count": row_count,
        "settings": {
            "bins": BINS,
            "top_k": top_k,
            "distinct": "exact" if exact else "exact for categorical, approximate for others",
            "quantiles": f"interpolated in {BINS} equal-width bins",
        },
        "columns": columns,
    }


def quantiles(histogram: Mapping[str, Any]) -> dict[str, float | None]:
    """The :data:`QUANTILES` of a histogram, interpolated linearly inside its bins.

    The error is at most one bin width, ``(hi - lo) / BINS``; the same counts give the same
    quantiles on every warehouse.
    """
    counts = histogram["counts"]
    total = sum(counts) + histogram["below"] + histogram["above"]
    if not total:
        return {str(q): None for q in QUANTILES}
    width = (histogram["hi"] - histogram["lo"]) / len(counts)
    result: dict[str, float | None] = {}
    for q in QUANTILES:
        target = q * total - histogram["below"]
        running = 0
        for index, count in enumerate(counts):
            if count and running + count >= target:
                share = max(target - running, 0) / count
                result[str(q)] = histogram["lo"] + width * (index + share)
                break
            running += count
        else:
            result[str(q)] = histogram["hi"]
    return result


def _bin(column: ir.Column, lo: float, hi: float) -> ir.IntegerValue:
    import ibis

    width = (hi - lo) / BINS or 1.0
    value = column.cast("float64")
    inside = ibis.least(((value - lo) / width).floor().cast("int64"), BINS - 1)
    return ibis.cases((value < lo, -1), (value > hi, BINS), else_=inside)


def _counts(
    warehouse: Warehouse,
    table: ibis.Table,
    ranges: Mapping[str, tuple[float, float]],
    categorical: Sequence[str],
    top_k: int,
) -> tuple[dict[str, dict[str, Any]], dict[str, list[list[Any]]], dict[str, int]]:
    """Histograms of ``ranges``' columns, top categories and distinct counts of ``categorical``."""
    import ibis

    parts: list[ibis.Table] = []
    for name, (lo, hi) in ranges.items():
        present = table.filter(table[name].notnull())
        parts.append(
            present.group_by(bin=_bin(present[name], lo, hi))
            .agg(n=present.count())
            .select(
                column=ibis.literal(name),
                bin="bin",
                value=ibis.null("string"),
                n="n",
                groups=ibis.null("int64"),
            )
        )
    for name in categorical:
        present = table.filter(table[name].notnull())
        grouped = present.group_by(value=present[name].cast("string")).agg(n=present.count())
        # Counting the groups gives the exact distinct count at no extra scan.
        parts.append(
            grouped.mutate(groups=grouped.n.count().over(ibis.window()))
            .order_by([ibis.desc("n"), "value"])
            .limit(top_k)
            .select(
                column=ibis.literal(name),
                bin=ibis.null("int64"),
                value="value",
                n="n",
                groups="groups",
            )
        )
    if not parts:
        return {}, {}, {}
    result = warehouse.execute(ibis.union(*parts)).to_pylist()
    histograms: dict[str, dict[str, Any]] = {
        name: {"lo": lo, "hi": hi, "counts": [0] * BINS, "below": 0, "above": 0}
        for name, (lo, hi) in ranges.items()
    }
    top: dict[str, list[list[Any]]] = {name: [] for name in categorical}
    distinct = dict.fromkeys(categorical, 0)
    for record in result:
        name, count = record["column"], int(record["n"])
        if record["bin"] is None:
            top[name].append([record["value"], count])
            distinct[name] = int(record["groups"])
            continue
        position = int(record["bin"])
        histogram = histograms[name]
        if position < 0:
            histogram["below"] += count
        elif position >= BINS:
            histogram["above"] += count
        else:
            histogram["counts"][position] += count
    for values in top.values():
        values.sort(key=lambda item: (-item[1], item[0]))
    return histograms, top, distinct


def histograms(
    warehouse: Warehouse, table: ibis.Table, ranges: Mapping[str, tuple[float, float]]
) -> dict[str, dict[str, Any]]:
    """Equal-width histograms of numeric columns of ``table`` over the given ``(lo, hi)`` ranges.

    Raises:
        BackendError: the query failed.
    """
    return _counts(warehouse, table, ranges, (), TOP_K)[0]


def conformance(
    warehouse: Warehouse, table: ibis.Table, expected: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """Values of text columns that do not parse as their ``expected`` ibis type.

    Args:
        warehouse: where ``table`` lives.
        table: the data to check.
        expected: column name → expected ibis type name (for example the reference's schema).

    Returns:
        One entry per checked column (text now, numeric/boolean/temporal expected) with the counts
        of checked and nonconforming values and the most frequent nonconforming values.

    Raises:
        BackendError: a query failed.
    """
    import ibis
    import ibis.expr.datatypes as dt

    schema = table.schema()
    checked: dict[str, str] = {}
    for name, type_name in expected.items():
        if name not in schema or not schema[name].is_string():
            continue
        want = dt.dtype(type_name)
        if want.is_numeric() or want.is_boolean() or want.is_temporal():
            # Integers are checked as numbers: "3.0" is a fixable format, "unknown" is not.
            checked[name] = "float64" if want.is_numeric() else type_name
    if not checked:
        return {}

    def broken(relation: ibis.Table, name: str) -> ir.BooleanValue:
        column = relation[name]
        return column.notnull() & column.try_cast(checked[name]).isnull()

    # One query: per column, its non-null count and its nonconforming values grouped, the total
    # of those kept by a window before the examples are cut to the most frequent few.
    parts = []
    for name in checked:
        present = table.filter(table[name].notnull())
        parts.append(
            present.aggregate(n=present.count()).select(
                column=ibis.literal(name), value=ibis.null("string"), n="n", bad=ibis.null("int64")
            )
        )
        bad = table.filter(broken(table, name))
        grouped = bad.group_by(value=bad[name]).agg(n=bad.count())
        parts.append(
            grouped.mutate(bad=grouped.n.sum().over(ibis.window()))
            .order_by([ibis.desc("n"), "value"])
            .limit(EXAMPLES)
            .select(column=ibis.literal(name), value="value", n="n", bad="bad")
        )
    result: dict[str, dict[str, Any]] = {
        name: {
            "expected": expected[name],
            "actual": str(schema[name]),
            "checked": 0,
            "nonconforming": 0,
            "examples": [],
        }
        for name in checked
    }
    for record in warehouse.execute(ibis.union(*parts)).to_pylist():
        entry = result[record["column"]]
        if record["bad"] is None:
            entry["checked"] = int(record["n"])
        else:
            entry["nonconforming"] = int(record["bad"])
            entry["examples"].append([record["value"], int(record["n"])])
    for entry in result.values():
        entry["examples"].sort(key=lambda item: (-item[1], str(item[0])))
    return result


def _shares(counts: Sequence[float]) -> list[float]:
    total = float(sum(counts))
    return [max(count / total if total else 0.0, SHARE_FLOOR) for count in counts]


def psi_groups(reference: Mapping[str, Any]) -> list[list[int]]:
    """Bin indexes of the reference histogram grouped into ≈ 10 % reference-mass groups."""
    counts = reference["counts"]
    total = sum(counts)
    groups: list[list[int]] = [[]]
    mass = 0
    for index, count in enumerate(counts):
        groups[-1].append(index)
        mass += count
        if total and mass >= total * len(groups) / PSI_GROUPS and index < len(counts) - 1:
            groups.append([])
    return [group for group in groups if group]


def psi(reference: Mapping[str, Any], current: Mapping[str, Any]) -> float:
    """Population stability index of ``current`` against ``reference`` (histograms on the same bins)."""
    groups = psi_groups(reference)

    def grouped(histogram: Mapping[str, Any]) -> list[float]:
        counts = histogram["counts"]
        return [
            histogram["below"],
            *(sum(counts[i] for i in group) for group in groups),
            histogram["above"],
        ]

    expected, actual = _shares(grouped(reference)), _shares(grouped(current))
    return sum((a - e) * math.log(a / e) for e, a in zip(expected, actual, strict=True))


def _cumulative(histogram: Mapping[str, Any]) -> list[float]:
    counts = [histogram["below"], *histogram["counts"], histogram["above"]]
    total = float(sum(counts)) or 1.0
    running, result = 0.0, []
    for count in counts:
        running += count
        result.append(running / total)
    return result


def ks(reference: Mapping[str, Any], current: Mapping[str, Any]) -> tuple[float, float]:
    """Binned two-sample Kolmogorov–Smirnov statistic and its asymptotic p-value."""
    statistic = max(
        abs(r - c) for r, c in zip(_cumulative(reference), _cumulative(current), strict=True)
    )
    n = sum(reference["counts"]) + reference["below"] + reference["above"]
    m = sum(current["counts"]) + current["below"] + current["above"]
    if not n or not m:
        return statistic, 1.0
    effective = math.sqrt(n * m / (n + m))
    scaled = (effective + 0.12 + 0.11 / effective) * statistic
    if scaled < 0.2:
        return statistic, 1.0
    series = sum((-1) ** (k - 1) * math.exp(-2 * k * k * scaled * scaled) for k in range(1, 101))
    return statistic, min(1.0, max(0.0, 2 * series))


def jensen_shannon(
    reference: Sequence[Sequence[Any]],
    reference_other: int,
    current: Sequence[Sequence[Any]],
    current_other: int,
) -> float:
    """Jensen–Shannon distance (base 2, in [0, 1]) between two top-category count lists."""
    ref = {item[0]: item[1] for item in reference}
    cur = {item[0]: item[1] for item in current}
    keys = sorted(set(ref) | set(cur), key=str)
    p = [float(ref.get(key, 0)) for key in keys] + [float(reference_other)]
    q = [float(cur.get(key, 0)) for key in keys] + [float(current_other)]
    total_p, total_q = sum(p) or 1.0, sum(q) or 1.0
    p = [value / total_p for value in p]
    q = [value / total_q for value in q]
    divergence = 0.0
    for a, b in zip(p, q, strict=True):
        middle = (a + b) / 2
        if a:
            divergence += a / 2 * math.log2(a / middle)
        if b:
            divergence += b / 2 * math.log2(b / middle)
    return math.sqrt(max(divergence, 0.0))


def column_drift(
    reference: Mapping[str, Any],
    current: Mapping[str, Any],
    current_histogram: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Drift of one column from its ``reference`` profile to its ``current`` profile.

    Args:
        reference: the reference column profile.
        current: the current column profile.
        current_histogram: for numeric columns, the current values binned on the reference's bins
            (:func:`histograms` with the reference's range).

    Returns:
        ``{"test": "psi+ks", "psi", "ks", "ks_pvalue"}`` for numeric columns,
        ``{"test": "jensen-shannon", "js"}`` for categorical ones, ``None`` when not comparable.
    """
    if (
        reference["kind"] == "numeric"
        and current_histogram is not None
        and "histogram" in reference
    ):
        statistic, pvalue = ks(reference["histogram"], current_histogram)
        return {
            "test": "psi+ks",
            "psi": psi(reference["histogram"], current_histogram),
            "ks": statistic,
            "ks_pvalue": pvalue,
        }
    if reference["kind"] == "categorical" and current.get("kind") == "categorical":
        return {
            "test": "jensen-shannon",
            "js": jensen_shannon(
                reference.get("top", []),
                reference.get("other", 0),
                current.get("top", []),
                current.get("other", 0),
            ),
        }
    return None
