"""Column statistics computed where the data is, shared by data versioning, monitoring and model compare.

Every statistic is an ibis expression over a :meth:`~mlops_kit.warehouse.Warehouse.table` relation,
run by :meth:`~mlops_kit.warehouse.Warehouse.execute`: the same expression compiles to DuckDB SQL for
the local twin and to BigQuery SQL in the cloud, and only aggregates travel back. The drift measures
are then small arithmetic on those aggregates. All results are JSON-able dicts, stored as they are in
manifests.

- :mod:`~mlops_kit.stats.profiles` — :func:`profile` (per-column statistics; the shape is described
  there) and :func:`compared_profile` (the profile as a comparison with a reference profile reads
  it: numeric columns binned on the reference's bins, with their values outside the reference's
  ``[min, max]`` counted, and without their own range, moments and quantiles);
- :mod:`~mlops_kit.stats.bins` — :class:`Bins` and aligned grids (binning is stated there, because
  drift values depend on it), :func:`histograms` (``{column: histogram}`` on given bins, one
  query), :func:`aligned` (two stored histograms on common bins, without reading the data again),
  :func:`quantiles` of a histogram, :func:`grouped_shares` (two histograms' shares in a few groups
  of bins, for plots);
- :mod:`~mlops_kit.stats.comparisons` — :func:`conformance` (values of text columns that do not
  parse as their expected type) and :func:`category_changes` (new and vanished categories between
  two tables, exactly); one query each;
- :mod:`~mlops_kit.stats.drift` — :func:`psi`, :func:`ks`, :func:`jensen_shannon` between two
  histograms / category counts, :func:`column_drift` of one column between two profiles, and
  :func:`class_shift` (total variation and chi-square) between two tables of class counts.
"""

from mlops_kit.stats.bins import (
    BINS,
    MIN_SHARED_BINS,
    QUANTILES,
    Bins,
    Histogram,
    aligned,
    grouped_shares,
    histograms,
    quantiles,
)
from mlops_kit.stats.comparisons import (
    CATEGORY_EXAMPLES,
    CATEGORY_LIMIT,
    EXAMPLES,
    category_changes,
    conformance,
)
from mlops_kit.stats.drift import (
    PSI_GROUPS,
    SHARE_FLOOR,
    class_shift,
    column_drift,
    jensen_shannon,
    ks,
    psi,
)
from mlops_kit.stats.profiles import (
    EXACT_DISTINCT_ROWS,
    PROFILE_FORMAT,
    TOP_K,
    Profile,
    column_kind,
    compared_profile,
    profile,
)

__all__ = [
    "BINS",
    "CATEGORY_EXAMPLES",
    "CATEGORY_LIMIT",
    "EXACT_DISTINCT_ROWS",
    "EXAMPLES",
    "MIN_SHARED_BINS",
    "PROFILE_FORMAT",
    "PSI_GROUPS",
    "QUANTILES",
    "SHARE_FLOOR",
    "TOP_K",
    "Bins",
    "Histogram",
    "Profile",
    "aligned",
    "category_changes",
    "class_shift",
    "column_drift",
    "column_kind",
    "compared_profile",
    "conformance",
    "grouped_shares",
    "histograms",
    "jensen_shannon",
    "ks",
    "profile",
    "psi",
    "quantiles",
]
