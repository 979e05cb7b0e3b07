"""Histograms on aligned grids: the bins, counting values into them, and re-binning without the data.

A histogram is ``{"lo", "hi", "width", "counts", "below", "above"}``, equal-width bins from ``lo`` to
``hi`` plus the counts of values below and above them. A profile bins each numeric column on an
*aligned grid*: the width is the smallest power of two (at least 1 for integer columns) that covers
the column's ``[min, max]`` in at most :data:`BINS` bins whose edges are multiples of the width. Any
two such histograms are exactly re-binned onto the coarser of their two grids (:func:`aligned`), so
versions profiled at different times are compared from their stored profiles without reading
either again; when that would leave fewer than :data:`MIN_SHARED_BINS` bins over the reference's
range (the ranges differ by more than 4×), the current data is binned again on the reference's bins
(:func:`histograms`). Power-of-two widths make ``floor(x / width)`` exact, so DuckDB and BigQuery
put every value in the same bin. Quantiles are interpolated in the histogram (within one bin width,
at most 1 % of the range; identical on every warehouse, and free: a sorting quantile costs more
than the whole profile).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir

    from mlops_kit.warehouse import Warehouse

BINS = 200  # at most 254: bin numbers are counted as 8-bit integers (see bin_numbers)
MIN_SHARED_BINS = 40
QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)

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


def bin_numbers(column: ir.Column, bins: Bins) -> ir.IntegerValue:
    """The bin of each value as :func:`histogram` reads it.

    The bin's number less :data:`_CENTRE`; :data:`_BELOW` and :data:`_ABOVE` outside the bins.
    """
    import ibis

    value = column.cast("float64")
    # Dividing by a power of two is exact, so every warehouse puts a value in the same bin; the
    # out-of-range branches come first so that no huge quotient is ever cast to an integer.
    index = (value / bins.width).floor() - (round(bins.lo / bins.width) + _CENTRE)
    return ibis.cases((value < bins.lo, _BELOW), (value >= bins.hi, _ABOVE), else_=index).cast(
        "int8"
    )


def binned(
    table: ibis.Table,
    name: str,
    bins: Bins,
    statistics: Callable[[ir.Column], Mapping[str, ir.Scalar]] | None = None,
) -> ibis.Table:
    """The non-null values of column ``name`` grouped by their bin, in one pass.

    Columns: ``bin`` (the bin's number less :data:`_CENTRE`; :data:`_BELOW` and :data:`_ABOVE`
    outside the bins), ``n`` (its values) and the aggregates that ``statistics`` gives for the
    column of non-null values, computed per bin.
    """
    present = table.filter(table[name].notnull())
    column = present[name]
    return present.group_by(bin=bin_numbers(column, bins)).agg(
        n=present.count(), **(statistics(column) if statistics else {})
    )


def histogram(bins: Bins, counts: Iterable[tuple[int, int]]) -> Histogram:
    """The histogram on ``bins`` of the ``(bin, n)`` rows of :func:`binned`."""
    result = _empty(bins)
    for code, count in counts:
        if code == _BELOW:
            result["below"] += count
        elif code == _ABOVE:
            result["above"] += count
        else:
            result["counts"][code + _CENTRE] += count
    return result


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

    One union of per-column counts.

    Raises:
        BackendError: the query failed.
    """
    import ibis

    if not bins:
        return {}
    parts = [
        binned(table, name, grid).select(column=ibis.literal(name), bin="bin", n="n")
        for name, grid in bins.items()
    ]
    rows: dict[str, list[tuple[int, int]]] = {name: [] for name in bins}
    for record in warehouse.execute(ibis.union(*parts)).to_pylist():
        rows[record["column"]].append((int(record["bin"]), int(record["n"])))
    return {name: histogram(grid, rows[name]) for name, grid in bins.items()}


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
