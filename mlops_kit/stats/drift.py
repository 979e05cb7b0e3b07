"""Drift between two distributions: small arithmetic on histograms and category counts.

PSI uses the reference's deciles, interpolated inside the bins, plus the underflow and overflow
bins; shares are floored at :data:`SHARE_FLOOR`. KS is the binned two-sample statistic (largest CDF
gap at the bin edges) with the asymptotic p-value. Jensen–Shannon is the distance (square root of
the base-2 divergence, in [0, 1]) over the union of both top-``k`` categories plus one bucket for
the rest. Histograms compared here share their bins (see :mod:`mlops_kit.stats.bins`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

SHARE_FLOOR = 1e-4
PSI_GROUPS = 10


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


def class_shift(reference: Mapping[str, int], current: Mapping[str, int]) -> dict[str, float]:
    """How far the class counts ``current`` moved from ``reference``.

    Returns:
        ``total_variation``: half the sum of the share differences, from 0 (same shares) to 1 (no
        class in common), the share of rows that would have to change class; ``chi2`` and
        ``pvalue``: Pearson's chi-square test of homogeneity of the two count tables (``pvalue``
        1.0 when either table is empty or both hold a single, shared class).
    """
    from scipy.stats import chi2_contingency

    classes = sorted(set(reference) | set(current), key=str)
    total_a, total_b = sum(reference.values()), sum(current.values())
    if not total_a or not total_b:
        return {"total_variation": 0.0, "chi2": 0.0, "pvalue": 1.0}
    distance = 0.5 * sum(
        abs(reference.get(c, 0) / total_a - current.get(c, 0) / total_b) for c in classes
    )
    table = [[reference.get(c, 0), current.get(c, 0)] for c in classes]
    if len(classes) < 2:
        return {"total_variation": distance, "chi2": 0.0, "pvalue": 1.0}
    result = chi2_contingency(table, correction=False)
    return {
        "total_variation": distance,
        "chi2": float(result.statistic),
        "pvalue": float(result.pvalue),
    }
