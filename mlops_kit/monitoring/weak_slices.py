"""Weak slices found, not only named: the feature values where a model does worst.

The search slices the labelled rows by every candidate feature at once, with the sliced metrics'
own sums (:func:`~mlops_kit.monitoring.metrics.sliced_sums`, one warehouse query): a categorical
feature by its values, a numeric one by its values when it has at most :data:`MAX_VALUES` of them
(hours, counts) and otherwise by deciles of its own distribution (``NTILE(10)``, each bin named by
its smallest and largest value; equal values may straddle two bins). A slice value is weak when it
has at least ``min_count`` labelled rows and the whole 95 % interval of the metric lies on the
worse side of the overall value (Wilson for accuracy; see the table of metrics for the others).
Many values are tested at once, so a few of them cross the line by chance: the list is a place to
look, worst first, not a verdict.

The same function serves the monitoring report (logged predictions in the warehouse) and the
promotion gate (a model's held-out rows in an in-memory DuckDB).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final

from mlops_kit.monitoring.metric_table import METRICS, Estimate, Task, finish_metrics, metric_names
from mlops_kit.monitoring.metrics import OVERALL, TIME_SLICES, slice_key, slice_text, sliced_sums
from mlops_kit.reports import format_number

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

MAX_VALUES: Final = 30
"""A numeric feature with at most this many distinct values is sliced by value, not by decile."""
DECILES: Final = 10
DEFAULT_MIN_COUNT: Final = 50
SHOWN: Final = 10
"""Weak slices listed, worst first."""

Execute = Callable[["ir.Expr"], "pa.Table"]


@dataclass(frozen=True)
class WeakSlice:
    """A feature value where the metric is worse than overall beyond its 95 % interval."""

    column: str
    value: str
    count: int
    metric: str
    estimate: Estimate
    overall: float

    @property
    def subject(self) -> str:
        """``column=value``."""
        return f"{self.column}={self.value}"

    def __str__(self) -> str:
        return (
            f"{self.subject}: {self.metric} {format_number(self.estimate.value)} "
            f"[{format_number(self.estimate.lower)}, {format_number(self.estimate.upper)}] "
            f"against {format_number(self.overall)} overall ({self.count} rows)"
        )

    def to_dict(self) -> dict[str, Any]:
        """The weak slice as JSON-able data."""
        return asdict(self) | {"estimate": self.estimate.to_dict(), "message": str(self)}


def _with_keys(execute: Execute, rows: ir.Table, features: Mapping[str, str]) -> ir.Table:
    """``rows`` with one key column per candidate feature (``_k0`` …), in ``features``' order.

    A decile is named by the smallest and largest value in it; the nulls are a slice of their own.
    """
    import ibis

    numeric = [name for name, kind in features.items() if kind != "string"]
    distinct: dict[str, int] = {}
    if numeric:
        counts = rows.aggregate(**{f"_d{i}": rows[n].nunique() for i, n in enumerate(numeric)})
        found = execute(counts).to_pylist()[0]
        distinct = {name: int(found[f"_d{i}"] or 0) for i, name in enumerate(numeric)}
    deciles = [name for name in numeric if distinct[name] > MAX_VALUES]
    tiles = {
        f"_t{name}": ibis.ntile(DECILES).over(group_by=rows[name].isnull(), order_by=rows[name])
        for name in deciles
    }
    staged = rows.mutate(**tiles) if tiles else rows
    keys: dict[str, ir.Value] = {}
    for i, name in enumerate(features):
        if name in deciles:
            value = staged[name]
            bin_of = [staged[f"_t{name}"], value.isnull()]
            low = value.min().over(group_by=bin_of).round(3).cast("string")
            high = value.max().over(group_by=bin_of).round(3).cast("string")
            keys[f"_k{i}"] = ibis.ifelse(value.isnull(), "(null)", low + " – " + high)
        elif name in TIME_SLICES and name not in rows.columns:
            keys[f"_k{i}"] = slice_key(staged, name)
        else:
            keys[f"_k{i}"] = slice_text(staged[name])
    return staged.mutate(**keys)


def find_weak_slices(
    execute: Execute,
    rows: ir.Table,
    features: Mapping[str, str],
    task: Task,
    positive_label: str,
    *,
    min_count: int = DEFAULT_MIN_COUNT,
    metric: str | None = None,
) -> list[WeakSlice]:
    """The slice values of ``features`` where ``metric`` is worst, beyond their interval.

    Args:
        execute: runs an ibis expression where ``rows`` live and returns an Arrow table.
        rows: a :func:`~mlops_kit.monitoring.metrics.live_rows`-shaped relation (``_prediction``,
            ``_score``, ``_label``, the features; ``_logged_at`` for the time slices).
        features: candidate feature name → ``float64`` or ``string`` (``hour_of_day`` and
            ``day_of_week`` of ``_logged_at`` may be named too).
        task: classification or regression.
        positive_label: the positive class of a classification.
        min_count: the fewest labelled rows a slice value needs to be listed.
        metric: the metric compared (default: the task's first, accuracy or MAE).

    Returns:
        At most :data:`SHOWN` weak slices, the largest gap from the overall value first.
    """
    name = metric or metric_names(task)[0]
    if not features:
        return []
    staged = _with_keys(execute, rows, features)
    columns = [f"_k{i}" for i in range(len(features))]
    base = [c for c in ("_logged_at", "_prediction", "_score", "_label") if c in staged.columns]
    sums = sliced_sums(staged.select(*base, *columns), columns, task, positive_label)
    found = execute(sums).to_pylist()
    overall = next((r for r in found if r["slice_column"] == OVERALL), None)
    if overall is None:
        return []
    reference = finish_metrics(overall, task)[1][name].value
    if reference is None:
        return []
    by_key = dict(zip(columns, features, strict=True))
    weak = []
    for row in found:
        count, measured = finish_metrics(row, task)
        estimate = measured[name]
        if row["slice_column"] == OVERALL or count < min_count or estimate.value is None:
            continue
        worse_bound = estimate.upper if METRICS[name].direction == "higher" else estimate.lower
        # The value itself must be worse too: a bound clipped at 1 may round just below it.
        if (
            worse_bound is not None
            and METRICS[name].improvement(estimate.value, reference) < 0
            and METRICS[name].improvement(worse_bound, reference) < 0
        ):
            column = by_key[row["slice_column"]]
            weak.append(WeakSlice(column, row["slice_value"], count, name, estimate, reference))
    # Worst value first; among equal values, the surer one (its interval's better end is worse).
    better_end = "upper" if METRICS[name].direction == "higher" else "lower"
    weak.sort(
        key=lambda w: (
            METRICS[name].improvement(w.estimate.value or 0.0, w.overall),
            METRICS[name].improvement(getattr(w.estimate, better_end) or 0.0, w.overall),
            w.subject,
        )
    )
    return weak[:SHOWN]


def candidates(features: Mapping[str, str], slices: Sequence[str]) -> dict[str, str]:
    """The features searched, plus the time slices named in ``slices``."""
    found = {name: "string" for name in slices if name in TIME_SLICES}
    return found | dict(features)
