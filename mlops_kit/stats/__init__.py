"""Column statistics computed where the data is, shared by data versioning, monitoring and model compare.

Every statistic is an ibis expression over a :meth:`~mlops_kit.warehouse.Warehouse.table` relation,
run by :meth:`~mlops_kit.warehouse.Warehouse.execute`: the same expression compiles to DuckDB SQL for
the local twin and to BigQuery SQL in the cloud, and only aggregates travel back. The drift measures
are then small arithmetic on those aggregates.

Functions (all results are JSON-able dicts, stored as they are in manifests):

- :func:`profile` — ``{"format", "row_count", "settings", "columns": {name: column profile}}``, where
  ``format`` is :data:`PROFILE_FORMAT`, so that profiles stored by an earlier release, whose
  statistics meant something else, are recognised and computed again. A column profile
  has ``type``, ``kind`` (``numeric`` | ``categorical`` | ``temporal``), ``nulls``, ``null_rate``,
  ``distinct``; numeric columns add ``min``, ``max``, ``mean``, ``std``, ``quantiles``
  (``{"0.01": v, …, "0.99": v}``, see :func:`quantiles`) and ``histogram`` (see :class:`Bins`);
  categorical columns (strings, booleans) add ``top`` (``[[value, count], …]``, most frequent
  first) and ``other`` (count of non-null values outside ``top``); temporal columns add ``min`` and
  ``max`` as ISO text. Three queries: the row count (with the numeric ranges where file
  metadata answers them: Parquet on the local twin), the other aggregates, then one union of
  per-column counts for the histograms and top categories.
- :func:`compared_profile` — the profile as a comparison with a reference profile reads it: numeric
  columns binned on the reference's bins, with their values outside the reference's ``[min, max]``
  counted, and without their own range, moments and quantiles.
- :func:`histograms` — ``{column: histogram}`` on given :class:`Bins`. One query.
- :func:`aligned` — two stored histograms on common bins, without reading the data again.
- :func:`conformance` — ``{column: {"expected", "actual", "checked", "nonconforming", "examples":
  [[value, count], …]}}`` for every text column whose expected type is numeric, boolean or temporal:
  values that do not parse as the expected type (text in a numeric column). One query.
- :func:`category_changes` — new and vanished categories between two tables, exactly. One query.
- :func:`quantiles` — the quantiles of a histogram.
- :func:`psi`, :func:`ks`, :func:`jensen_shannon` — drift between two histograms / category counts.
- :func:`column_drift` — the drift of one column between two profiles: ``{"test", "value", ...}``.
- :func:`grouped_shares` — two histograms' shares in a few groups of bins, for plots.

Binning, stated because drift values depend on it: a histogram is
``{"lo", "hi", "width", "counts", "below", "above"}``, equal-width bins from ``lo`` to ``hi`` plus
the counts of values below and above them. A profile bins each numeric column on an *aligned grid*:
the width is the smallest power of two (at least 1 for integer columns) that covers the column's
``[min, max]`` in at most :data:`BINS` bins whose edges are multiples of the width. Any two such
histograms are exactly re-binned onto the coarser of their two grids, so versions profiled at
different times are compared from their stored profiles without reading either again; when that
would leave fewer than :data:`MIN_SHARED_BINS` bins over the reference's range (the ranges differ
by more than 4×), the current data is binned again on the reference's bins. Power-of-two widths make
``floor(x / width)`` exact, so DuckDB and BigQuery put every value in the same bin. PSI uses the
reference's deciles, interpolated inside the bins, plus the underflow and overflow bins; shares
are floored at :data:`SHARE_FLOOR`. KS is the binned two-sample statistic (largest CDF gap at the
bin edges) with the asymptotic p-value. Jensen–Shannon is the distance (square root of
the base-2 divergence, in [0, 1]) over the union of both top-``k`` categories plus one bucket for
the rest. Quantiles are interpolated in the histogram (within one bin width, at most 1 % of the
range; identical on every warehouse, and free: a sorting quantile costs more than the whole
profile); distinct counts are exact for categorical columns, and for the others exact up to
:data:`EXACT_DISTINCT_ROWS` rows, HyperLogLog estimates above.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir

    from mlops_kit.warehouse import Warehouse

PROFILE_FORMAT = 2  # raised whenever a stored profile's statistics change meaning
BINS = 200  # at most 254: bin numbers are counted as 8-bit integers (see _bin)
MIN_SHARED_BINS = 40
TOP_K = 50
EXAMPLES = 5
QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
EXACT_DISTINCT_ROWS = 100_000
CATEGORY_LIMIT = 10_000
CATEGORY_EXAMPLES = 20
SHARE_FLOOR = 1e-4
PSI_GROUPS = 10

Profile = dict[str, Any]
Histogram = dict[str, Any]


@dataclass(frozen=True)
class Bins:
    """``count`` equal-width bins of ``width`` from ``lo``: ``[lo + i·width, lo + (i+1)·width)``."""

    lo: float
    width: float
    count: int

    @property
    def hi(self) -> float:
        """The upper edge of the last bin."""
        return self.lo + self.width * self.count

    @classmethod
    def covering(cls, lo: float, hi: float, *, integer: bool = False) -> Bins:
        """The aligned grid over ``[lo, hi]``.

        Its width is the smallest power of two (at least 1 for integers) whose bins, with edges at
        multiples of the width, number at most :data:`BINS`.
        """
        span = hi - lo
        # frexp gives x = m·2**e with 0.5 <= m < 1, so 2**e is the power of two at or above x.
        mantissa, exponent = math.frexp(span / BINS if span else max(abs(lo), abs(hi)) or 1.0)
        width = math.ldexp(1.0, exponent - 1 if mantissa == 0.5 else exponent)
        if integer:
            width = max(width, 1.0)
        while math.floor(hi / width) - math.floor(lo / width) + 1 > BINS:
            width *= 2
        first = math.floor(lo / width)
        return cls(first * width, width, math.floor(hi / width) - first + 1)

    @classmethod
    def of(cls, histogram: Mapping[str, Any]) -> Bins:
        """The bins of a stored histogram."""
        return cls(histogram["lo"], histogram["width"], len(histogram["counts"]))

    def on_grid(self) -> bool:
        """Whether these bins are an aligned grid (power-of-two width, edges at its multiples)."""
        return math.frexp(self.width)[0] == 0.5 and (self.lo / self.width).is_integer()


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


def _profile(  # noqa: C901, PLR0912, PLR0915
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
    # The ranges that choose the histogram bins go with the row count where file metadata answers
    # them without reading the values (Parquet on the local twin); elsewhere with the other
    # aggregates, so that each column is read once before the histograms.
    ranges: list[ir.Scalar] = []
    for index, (name, dtype) in enumerate(schema.items()):
        if column_kind(dtype) == "numeric" and name not in compared:
            ranges += [table[name].min().name(f"min{index}"), table[name].max().name(f"max{index}")]
    # A row count is free on both warehouses, and says whether distinct counts can be exact.
    first = [table.count().name("rows"), *(ranges if warehouse.ranges_from_metadata else [])]
    row = warehouse.execute(table.aggregate(first)).to_pylist()[0]
    row_count = int(row["rows"])
    exact = row_count <= EXACT_DISTINCT_ROWS
    metrics: list[ir.Scalar] = [] if warehouse.ranges_from_metadata else [*ranges]
    for index, (name, dtype) in enumerate(schema.items()):
        kind = column_kind(dtype)
        column = table[name]
        metrics.append(column.count().name(f"n{index}"))
        if kind == "categorical":
            continue
        metrics.append((column.nunique() if exact else column.approx_nunique()).name(f"d{index}"))
        if kind == "numeric" and name in compared:
            value = column.cast("float64")
            outside = (value < compared[name]["min"]) | (value > compared[name]["max"])
            metrics.append(outside.sum().name(f"out{index}"))
        elif kind == "numeric":
            value = column.cast("float64")
            metrics += [value.mean().name(f"mean{index}"), value.std().name(f"std{index}")]
        else:
            metrics += [column.min().name(f"min{index}"), column.max().name(f"max{index}")]
    if row_count:
        row |= warehouse.execute(table.aggregate(metrics)).to_pylist()[0]
    columns: dict[str, dict[str, Any]] = {}
    bins: dict[str, Bins] = {}
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
        if kind == "numeric" and name in compared:
            bins[name] = Bins.of(compared[name]["histogram"])
            stats["out_of_range"] = int(row.get(f"out{index}") or 0)
        elif kind == "numeric":
            low, high = _float(row.get(f"min{index}")), _float(row.get(f"max{index}"))
            stats |= {
                "min": low,
                "max": high,
                "mean": _float(row.get(f"mean{index}")),
                "std": _float(row.get(f"std{index}")),
            }
            # Infinite values leave a column without a histogram rather than without a profile.
            if low is not None and high is not None and math.isfinite(high - low):
                bins[name] = Bins.covering(low, high, integer=dtype.is_integer())
        elif kind == "temporal":
            for key in ("min", "max"):
                value = row.get(f"{key}{index}")
                stats[key] = None if value is None else value.isoformat()
        columns[name] = stats
    categorical = [name for name, stats in columns.items() if stats["kind"] == "categorical"]
    histogram, top, distinct_categories = _counts(warehouse, table, bins, categorical, top_k)
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


def quantiles(histogram: Mapping[str, Any]) -> dict[str, float | None]:
    """The :data:`QUANTILES` of a histogram, interpolated linearly inside its bins.

    The error is at most one bin width; the same counts give the same quantiles on every
    warehouse.
    """
    counts = histogram["counts"]
    total = sum(counts) + histogram["below"] + histogram["above"]
    if not total:
        return {str(q): None for q in QUANTILES}
    width = histogram["width"]
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


# Bin numbers travel as 8-bit integers centred on zero: DuckDB then counts them in a directly
# indexed table instead of a hash table (a third faster), and BigQuery widens them to INT64.
_BELOW, _ABOVE, _CENTRE = -128, 127, BINS // 2


def _bin(column: ir.Column, bins: Bins) -> ir.IntegerValue:
    """The bin of each value, less :data:`_CENTRE`; :data:`_BELOW` and :data:`_ABOVE` outside."""
    import ibis

    value = column.cast("float64")
    # Dividing by a power of two is exact, so every warehouse puts a value in the same bin; the
    # out-of-range branches come first so that no huge quotient is ever cast to an integer.
    index = (value / bins.width).floor() - (round(bins.lo / bins.width) + _CENTRE)
    return ibis.cases((value < bins.lo, _BELOW), (value >= bins.hi, _ABOVE), else_=index).cast(
        "int8"
    )


def _counts(
    warehouse: Warehouse,
    table: ibis.Table,
    bins: Mapping[str, Bins],
    categorical: Sequence[str],
    top_k: int,
) -> tuple[dict[str, Histogram], dict[str, list[list[Any]]], dict[str, int]]:
    """Histograms of ``bins``' columns, top categories and distinct counts of ``categorical``."""
    import ibis

    parts: list[ibis.Table] = []
    for name, grid in bins.items():
        present = table.filter(table[name].notnull())
        parts.append(
            present.group_by(bin=_bin(present[name], grid))
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
                bin=ibis.null("int8"),
                value="value",
                n="n",
                groups="groups",
            )
        )
    if not parts:
        return {}, {}, {}
    result = warehouse.execute(ibis.union(*parts)).to_pylist()
    histograms: dict[str, Histogram] = {name: _empty(grid) for name, grid in bins.items()}
    top: dict[str, list[list[Any]]] = {name: [] for name in categorical}
    distinct = dict.fromkeys(categorical, 0)
    for record in result:
        name, count = record["column"], int(record["n"])
        if record["bin"] is None:
            top[name].append([record["value"], count])
            distinct[name] = int(record["groups"])
            continue
        code, histogram = int(record["bin"]), histograms[name]
        if code == _BELOW:
            histogram["below"] += count
        elif code == _ABOVE:
            histogram["above"] += count
        else:
            histogram["counts"][code + _CENTRE] += count
    for values in top.values():
        values.sort(key=lambda item: (-item[1], item[0]))
    return histograms, top, distinct


def _empty(bins: Bins) -> Histogram:
    return {
        "lo": bins.lo,
        "hi": bins.hi,
        "width": bins.width,
        "counts": [0] * bins.count,
        "below": 0,
        "above": 0,
    }


def histograms(
    warehouse: Warehouse, table: ibis.Table, bins: Mapping[str, Bins]
) -> dict[str, Histogram]:
    """Histograms of numeric columns of ``table`` on the given bins (values outside counted apart).

    Raises:
        BackendError: the query failed.
    """
    return _counts(warehouse, table, bins, (), TOP_K)[0]


def _rebinned(histogram: Mapping[str, Any], bins: Bins) -> Histogram:
    """``histogram`` (on an aligned grid) on the coarser aligned ``bins``: an exact re-count."""
    result = _empty(bins)
    result["below"], result["above"] = histogram["below"], histogram["above"]
    ratio = round(bins.width / histogram["width"])
    offset = round(histogram["lo"] / histogram["width"]) - round(bins.lo / histogram["width"])
    for index, count in enumerate(histogram["counts"]):
        position = (offset + index) // ratio
        if position < 0:
            result["below"] += count
        elif position >= bins.count:
            result["above"] += count
        else:
            result["counts"][position] += count
    return result


def aligned(
    reference: Mapping[str, Any], current: Mapping[str, Any]
) -> tuple[Histogram, Histogram] | None:
    """The ``reference`` and ``current`` profile histograms re-counted on common bins.

    The common bins are the reference's range on the coarser of the two aligned grids; current
    values outside them are counted below and above. ``None`` when either histogram is not an
    own-range profile histogram on an aligned grid, or when the common bins would number fewer
    than :data:`MIN_SHARED_BINS` (or than the reference's own, if it has fewer): then the current
    data must be binned again on the reference's bins.
    """
    if any(h["below"] or h["above"] or not Bins.of(h).on_grid() for h in (reference, current)):
        return None
    width = max(reference["width"], current["width"])
    first = math.floor(reference["lo"] / width)
    last = math.ceil(reference["hi"] / width)
    common = Bins(first * width, width, last - first)
    if common.count < min(MIN_SHARED_BINS, len(reference["counts"])):
        return None
    return _rebinned(reference, common), _rebinned(current, common)


def grouped_shares(
    reference: Mapping[str, Any], current: Mapping[str, Any], groups: int
) -> tuple[list[str], list[float], list[float]]:
    """Shares of two histograms on the same bins in ≤ ``groups`` groups of consecutive bins.

    Returns labels (``< lo``, each group's lower edge, ``≥ hi``) and both histograms' shares.
    """
    size = math.ceil(len(reference["counts"]) / groups)
    starts = range(0, len(reference["counts"]), size)
    width = reference["width"] * size
    labels = [
        f"< {reference['lo']:.3g}",
        *(f"{reference['lo'] + i * width:.3g}" for i in range(len(starts))),
        f"≥ {reference['hi']:.3g}",
    ]

    def shares(histogram: Mapping[str, Any]) -> list[float]:
        counts = histogram["counts"]
        values = [histogram["below"], *(sum(counts[i : i + size]) for i in starts)]
        values.append(histogram["above"])
        total = sum(values)
        return [value / total if total else 0.0 for value in values]

    return labels, shares(reference), shares(current)


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


def category_changes(
    warehouse: Warehouse, reference: ibis.Table, current: ibis.Table, columns: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The categories of ``columns`` that are new in ``current`` or gone from ``reference``.

    Exact, whatever the number of categories, where top-``k`` lists can only tell about their own
    categories. Returns per column ``{"new": [value, …], "new_count", "vanished": [value, …],
    "vanished_count"}``, the values sorted and cut to :data:`CATEGORY_EXAMPLES`. One query.

    Raises:
        BackendError: the query failed.
    """
    import ibis

    parts = []
    for name in columns:
        values = [
            table.select(value=table[name].cast("string")).filter(ibis._.value.notnull()).distinct()
            for table in (reference, current)
        ]
        # New values are the current's missing from the reference; vanished ones the reverse.
        for change, found, missing in (
            ("new", values[1], values[0]),
            ("vanished", values[0], values[1]),
        ):
            gone = found.anti_join(missing, "value")
            parts.append(
                gone.mutate(total=gone.value.count().over(ibis.window()))
                .order_by("value")
                .limit(CATEGORY_EXAMPLES)
                .select(
                    column=ibis.literal(name),
                    change=ibis.literal(change),
                    value="value",
                    total="total",
                )
            )
    result: dict[str, dict[str, Any]] = {
        name: {"new": [], "new_count": 0, "vanished": [], "vanished_count": 0} for name in columns
    }
    if not parts:
        return result
    for record in warehouse.execute(ibis.union(*parts)).to_pylist():
        entry = result[record["column"]]
        entry[record["change"]].append(record["value"])
        entry[f"{record['change']}_count"] = int(record["total"])
    for entry in result.values():
        entry["new"].sort()
        entry["vanished"].sort()
    return result


def _shares(counts: Sequence[float]) -> list[float]:
    total = float(sum(counts))
    return [max(count / total if total else 0.0, SHARE_FLOOR) for count in counts]


def _decile_edges(reference: Mapping[str, Any]) -> list[float]:
    """Where the reference's in-range mass reaches each tenth, in bins (bin ``i`` is ``[i, i+1)``).

    Interpolated linearly inside the bins, so the groups hold a tenth of the reference each
    whatever the bin edges.
    """
    counts = reference["counts"]
    total = sum(counts)
    edges, running, tenth = [0.0], 0, 1
    for index, count in enumerate(counts):
        while tenth < PSI_GROUPS and count and running + count >= total * tenth / PSI_GROUPS:
            edges.append(index + (total * tenth / PSI_GROUPS - running) / count)
            tenth += 1
        running += count
    return [*edges, float(len(counts))]


def _mass_below(counts: Sequence[int], prefix: Sequence[int], position: float) -> float:
    whole = min(int(position), len(counts))
    inside = counts[whole] * (position - whole) if whole < len(counts) else 0.0
    return prefix[whole] + inside


def psi(reference: Mapping[str, Any], current: Mapping[str, Any]) -> float:
    """Population stability index of ``current`` against ``reference`` (histograms on the same bins).

    The groups are the reference's deciles (interpolated inside the bins) plus the values below
    and above the bins.
    """
    edges = _decile_edges(reference)

    def grouped(histogram: Mapping[str, Any]) -> list[float]:
        counts = histogram["counts"]
        prefix = [0, *itertools.accumulate(counts)]
        below = [_mass_below(counts, prefix, edge) for edge in edges]
        inside = [high - low for low, high in itertools.pairwise(below)]
        return [histogram["below"], *inside, histogram["above"]]

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
    binned: tuple[Mapping[str, Any], Mapping[str, Any]] | None = None,
) -> dict[str, Any] | None:
    """Drift of one column from its ``reference`` profile to its ``current`` profile.

    Args:
        reference: the reference column profile.
        current: the current column profile.
        binned: for numeric columns, the reference's and the current histogram on the same bins
            (from :func:`aligned`, or the reference's own and :func:`histograms` on its bins).

    Returns:
        ``{"test": "psi+ks", "psi", "ks", "ks_pvalue"}`` for numeric columns,
        ``{"test": "jensen-shannon", "js"}`` for categorical ones, ``None`` when not comparable.
    """
    if reference["kind"] == "numeric" and binned is not None:
        statistic, pvalue = ks(*binned)
        return {
            "test": "psi+ks",
            "psi": psi(*binned),
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
