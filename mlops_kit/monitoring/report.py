"""The monitoring report of one model version over a time window.

Everything heavy runs in the warehouse: the sliced metrics (:mod:`mlops_kit.monitoring.metrics`),
the coverage counts, and the per-feature profile, histograms and type conformance of the live
features (:mod:`mlops_kit.stats`, shared with data versioning). Only aggregates come back.

Live features are read from the prediction log (typed fields on the local twin, JSON on BigQuery);
the model's training data version
fixes the feature types, the reference distributions for drift and the ranges for out-of-range
values. Slices: ``hour_of_day`` and ``day_of_week`` of ``logged_at`` (UTC) are built in; any other
slice names a feature.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlops_kit import stats
from mlops_kit.errors import ConfigError, shorten
from mlops_kit.monitoring.estimation import (
    Calibration,
    binned_sums,
    calibration_bin,
    finish_calibration,
    finish_estimates,
    reliability_bins,
)
from mlops_kit.monitoring.metric_table import METRICS, Estimate, Task, finish_metrics
from mlops_kit.monitoring.metrics import (
    OVERALL,
    SCORE_BIN,
    TIME_SLICES,
    SliceMetrics,
    live_rows,
    logged_predictions,
    slice_key,
    slice_text,
    sliced_sums,
    unparsed,
)
from mlops_kit.monitoring.predictions import log_tables
from mlops_kit.monitoring.spec import DEFAULT_LABELS, Labels
from mlops_kit.monitoring.weak_slices import WeakSlice, candidates, find_weak_slices
from mlops_kit.monitoring.window import Window
from mlops_kit.progress import NO_PROGRESS, Progress, Stages
from mlops_kit.warehouse import Source

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from mlops_kit.kit import Kit

_FEATURE_SAMPLE = 2000
_DISTRIBUTION_BINS = 10
_LABEL_CLOCK_SLACK = timedelta(days=1)


@dataclass(frozen=True)
class WatchedModel:
    """The model version under watch, as the registry describes it.

    Attributes:
        name: registered model name.
        version: version number.
        baseline: the version's evaluation metrics (the registry's metrics JSON).
        training_data: references (``NAME@V``) of the dataset versions it was trained on.
        training_location: warehouse location of the first of them (for drift and coverage).
    """

    name: str
    version: int
    baseline: dict[str, Any] = field(default_factory=dict)
    training_data: list[str] = field(default_factory=list)
    training_location: str | None = None

    @property
    def ref(self) -> str:
        """``NAME@V``."""
        return f"{self.name}@{self.version}"

    def baseline_for(self, column: str, value: str) -> dict[str, float]:
        """The baseline metrics of one slice (``overall`` for the whole window)."""
        if column == OVERALL:
            found = self.baseline.get("overall", {})
        else:
            found = self.baseline.get("slices", {}).get(column, {}).get(value, {})
        return {
            k: float(v) for k, v in found.items() if isinstance(v, (int, float)) and k != "count"
        }


@dataclass
class MonitoringReport:
    """Sliced metrics, coverage, drift and data health of a model version over a window."""

    model: WatchedModel
    task: Task
    window: Window
    logged: int
    labelled: int
    slices: list[SliceMetrics]
    coverage: dict[str, list[dict[str, Any]]]
    drift: dict[str, dict[str, Any]]
    health: dict[str, dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    distributions: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per feature: ``labels`` and the ``training`` and ``live`` shares of each, for plots."""
    positive_label: str | None = None
    """The positive class of a classification (given, or inferred from the labels)."""
    min_label_share: float = 0.0
    """A slice with a smaller share of labelled predictions has its metrics pending."""
    calibration: Calibration | None = None
    """The calibration of the scores on the labelled history (classification with scores)."""
    features: dict[str, str] = field(default_factory=dict)
    """The logged features by kind (``float64`` or ``string``), as the report read them."""
    weak_slices: list[WeakSlice] | None = None
    """The feature values where the model does worst (``None``: not searched; see
    :func:`search_weak_slices`)."""
    slice_inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per slice column: drift and health of the inputs in some of its values taken together
    (``values``, ``health``, ``drift``; see :func:`describe_slice_inputs`)."""

    @property
    def label_share(self) -> float:
        """The share of the window's predictions with ground truth."""
        return self.labelled / self.logged if self.logged else 0.0

    @property
    def calibration_warning(self) -> str | None:
        """Why the estimated metrics may be wrong (the scores are not calibrated), if so."""
        return None if self.calibration is None else self.calibration.warning(self.model.ref)

    def slice(self, column: str, value: str) -> SliceMetrics | None:
        """The metrics of ``column=value`` (``None`` if that slice has no labelled predictions)."""
        return next((s for s in self.slices if (s.column, s.value) == (column, value)), None)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-able data."""
        return {
            "model": self.model.ref,
            "task": self.task,
            "positive_label": self.positive_label,
            "window": {"start": self.window.start.isoformat(), "end": self.window.end.isoformat()},
            "logged": self.logged,
            "labelled": self.labelled,
            "labelled_share": self.label_share,
            "min_label_share": self.min_label_share,
            "training_data": self.model.training_data,
            "slices": [s.to_dict(self.min_label_share) for s in self.slices],
            "calibration": (
                None if self.calibration is None else self.calibration.to_dict(self.model.ref)
            ),
            "weak_slices": (
                None if self.weak_slices is None else [w.to_dict() for w in self.weak_slices]
            ),
            "slice_inputs": self.slice_inputs,
            "coverage": self.coverage,
            "drift": self.drift,
            "health": self.health,
            "distributions": self.distributions,
            "notes": self.notes,
        }


def watched_model(kit: Kit, ref: str) -> WatchedModel:
    """The registry's view of model version ``ref`` (``NAME@V`` or ``NAME@ALIAS``).

    Raises:
        NotFoundError: the model, version or alias does not exist.
        ConfigError: ``ref`` is malformed.
    """
    from mlops_kit import data, models

    version = models.get_version(kit, ref)
    location = data.get_version(kit, version.datasets[0]).storage if version.datasets else None
    return WatchedModel(
        name=version.name,
        version=version.version,
        baseline={"overall": version.metrics, "slices": version.slices},
        training_data=list(version.datasets),
        training_location=location,
    )


def _sort_key(value: str) -> tuple[int, float | str]:
    try:
        return (0, float(value))
    except ValueError:
        return (1, value)


def _logged_features(kit: Kit, predictions: ir.Table, logged: int) -> dict[str, str]:
    """Feature names of the log: ``float64`` if every value is a number.

    Typed features (the local twin) name their fields and types. From JSON, the keys of a random
    sample of the log, ``float64`` if every value seen is a number. A key that is always null is
    still a feature (an empty column is what health must show).
    """
    import ibis

    logged_type = predictions.features.type()
    if logged_type.is_struct():
        return {
            name: "float64" if dtype.is_numeric() else "string"
            for name, dtype in logged_type.items()
        }

    # About _FEATURE_SAMPLE rows spread evenly over the window (cheaper than sorting by random).
    share = _FEATURE_SAMPLE / logged
    chosen = predictions.filter(ibis.random() < share) if share < 1 else predictions
    sample = chosen.select("features")
    kinds: dict[str, str] = {}
    for text in kit.warehouse.execute(sample)["features"].to_pylist():
        values = json.loads(text) if isinstance(text, str) else (text or {})
        for name, value in values.items():
            if value is None:
                kinds.setdefault(name, "")
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                kinds[name] = kinds.get(name) or "float64"
            else:
                kinds[name] = "string"
    return {name: kind or "string" for name, kind in kinds.items()}


REPORT_STAGES = 4
"""How many stages :func:`build_report` reports."""


def build_report(
    kit: Kit,
    model: WatchedModel,
    *,
    window: Window | None = None,
    slices: Sequence[str] = ("hour_of_day",),
    task: Task = "classification",
    time_column: str | None = None,
    labels: Labels = DEFAULT_LABELS,
    progress: Progress = NO_PROGRESS,
) -> MonitoringReport:
    """Compute the report of ``model`` over a window of time.

    Labels count as they are logged so far: a prediction whose label has not arrived is counted
    as logged, read by the estimate and left out of the metrics.

    Args:
        kit: the environment whose warehouse holds the prediction log.
        model: the version under watch.
        window: the time the predictions were logged in (default: the 7 days up to now,
            ``Window.last("7d")``).
        slices: slice columns (``hour_of_day``, ``day_of_week`` or feature names).
        task: ``classification`` (labels compared to the positive class) or ``regression``.
        time_column: timestamp column of the training data for time-slice coverage (default: its
            first timestamp column).
        labels: the positive class (by default inferred from the labels as the evaluation's
            classifier orders its classes, see :func:`positive_class`), the share of labelled
            predictions below which a slice's metrics are pending, and the calibration the
            estimate needs.
        progress: told the :data:`REPORT_STAGES` stages (counting, reading the predictions, the
            metrics, the inputs); given :class:`~mlops_kit.progress.Stages` of more, it numbers
            them among those.

    Raises:
        NotFoundError: nothing was ever logged, or the training data is missing.
        ConfigError: a slice names no logged feature.
        BackendError: a warehouse query failed.
    """
    window = window or Window.last("7d")
    start, end = window.start, window.end
    warehouse = kit.warehouse
    stages = Stages.of(progress, REPORT_STAGES)
    stages.start(f"counting the predictions of {model.ref}")
    log, truth = log_tables(kit)
    predictions = logged_predictions(log, model.name, model.version, start, end)
    history = _history(log, model, end)
    counted = warehouse.execute(
        history.aggregate(
            n=history.count(where=history.logged_at >= start),
            earlier=history.count(where=history.logged_at < start),
        )
    ).to_pylist()[0]
    logged = int(counted["n"])
    training = warehouse.table(model.training_location) if model.training_location else None
    report = MonitoringReport(model, task, window, logged, 0, [], {}, {}, {})
    report.min_label_share = labels.min_share
    if training is None:
        report.notes.append(
            f"{model.ref} has no training data in the registry: no drift, no coverage"
        )
    if truth is None:
        report.notes.append("no ground truth logged yet: metrics need labels (log_ground_truth)")
    if not logged:
        report.notes.append(f"no predictions of {model.ref} were logged between {start} and {end}")
        return report
    stages.start(f"reading {logged:,} predictions")
    features = _features(kit, predictions, logged, slices, training)
    report.features = features

    every_label = truth
    if truth is not None:
        # A label follows its prediction; a day of slack allows for clocks that disagree.
        truth = truth.filter(truth.logged_at >= start - _LABEL_CLOCK_SLACK)
    live = live_rows(predictions, truth, features, warehouse.dialect)
    # Only the metrics need the labels: the other statistics read the features alone.
    observed = live_rows(predictions, None, features, warehouse.dialect)
    staged = None
    if not predictions.features.type().is_struct():
        # JSON is parsed once: every statistic below reads the staged rows. Typed features are
        # read in place, with no copy of the log.
        staged = warehouse.stage("monitoring", Source(query=warehouse.compile(live)))
        live = observed = warehouse.table(staged.location)
    try:
        stages.start(f"computing the sliced metrics of {logged:,} predictions")
        if task == "classification":
            classes = _WindowClasses.of(predictions, truth)
            report.positive_label = (
                _inferred_positive(kit, classes, report)
                if labels.positive is None
                else _known_positive(kit, classes, labels.positive)
            )
        # The labelled history the calibration reads is the window's when nothing was logged
        # before it: the calibration then comes from the sliced sums' query.
        calibrate = (
            labels.max_calibration_error
            if truth is not None and report.positive_label is not None and not counted["earlier"]
            else None
        )
        _sliced_metrics(kit, live, slices, report.positive_label or "", report, calibrate)
        if every_label is not None:
            _label_delay(kit, report, log, every_label, labels)
        stages.start("comparing the inputs with the training data")
        report.coverage = _coverage(kit, report, training, slices, time_column)
        inputs = _input_stats(kit, observed, training, features)
        report.health, report.drift = inputs.health, inputs.drift
        report.distributions = inputs.distributions
    finally:
        if staged is not None:
            warehouse.discard(staged)
    return report


def _features(
    kit: Kit,
    predictions: ir.Table,
    logged: int,
    slices: Sequence[str],
    training: ir.Table | None,
) -> dict[str, str]:
    """The logged features by kind, typed as the training data types them.

    Raises:
        ConfigError: a slice names no logged feature.
    """
    features = _logged_features(kit, predictions, logged)
    for column in slices:
        if column not in TIME_SLICES and column not in features:
            known = ", ".join([*TIME_SLICES, *sorted(features)])
            raise ConfigError(f"unknown slice {column!r}: use one of {known}")
    schema = training.schema() if training is not None else {}
    for name in features:
        if name in schema:
            numeric = stats.column_kind(schema[name]) == "numeric"
            features[name] = "float64" if numeric else "string"
    return features


def _sliced_metrics(
    kit: Kit,
    live: ir.Table,
    slices: Sequence[str],
    positive_label: str,
    report: MonitoringReport,
    calibrate: float | None,
) -> None:
    """Add the metrics of every slice (overall first) to ``report``, with the registry baseline.

    Given ``calibrate`` (the largest calibration error), ``live`` holds the labelled history
    and the calibration of its scores is added too.
    """
    sums = sliced_sums(
        live,
        slices,
        report.task,
        positive_label,
        None if calibrate is None else calibration_bin,
        kit.warehouse.dialect,
    )
    rows = kit.warehouse.execute(sums).to_pylist()
    if calibrate is not None:
        report.calibration = finish_calibration(binned_sums(rows), calibrate)
        rows = [row for row in rows if row["slice_column"] != SCORE_BIN]
    rows.sort(
        key=lambda r: (
            r["slice_column"] != OVERALL,
            r["slice_column"],
            _sort_key(r["slice_value"] or ""),
        )
    )
    for row in rows:
        count, metrics = finish_metrics(row, report.task)
        column, value = row["slice_column"], row["slice_value"]
        baseline = report.model.baseline_for(column, value)
        estimated = finish_estimates(row) if report.task == "classification" else {}
        report.slices.append(
            SliceMetrics(
                column, value, count, metrics, baseline, int(row["logged"] or 0), estimated
            )
        )
        if column == OVERALL:
            report.labelled = count
            report.notes += _missing(metrics, count, positive_label)


def _window_rows(kit: Kit, report: MonitoringReport, *, labelled: bool) -> ir.Table:
    """The :func:`live_rows` of the report's window again (only the labelled ones if asked)."""
    log, truth = log_tables(kit)
    model = report.model
    predictions = logged_predictions(
        log, model.name, model.version, report.window.start, report.window.end
    )
    if truth is not None and labelled:
        truth = truth.filter(truth.logged_at >= report.window.start - _LABEL_CLOCK_SLACK)
    live = live_rows(
        predictions, truth if labelled else None, report.features, kit.warehouse.dialect
    )
    return live.filter(live._label.notnull()) if labelled else live


def describe_slice_inputs(kit: Kit, report: MonitoringReport, slices: Sequence[str]) -> None:
    """Drift and health of the live inputs in given slice values, against the training data.

    For each slice column, the values named (``hour_of_day=3``) are taken together: the evidence
    a violated group of slice values carries (see :mod:`~mlops_kit.monitoring.diagnosis`). The
    result is kept in ``report.slice_inputs[column]``.

    Raises:
        BackendError: a warehouse query failed.
    """
    by_column: dict[str, list[str]] = {}
    for subject in slices:
        column, _, value = subject.partition("=")
        if value:
            by_column.setdefault(column, []).append(value)
    if not by_column or not report.logged:
        return
    live = _window_rows(kit, report, labelled=False)
    location = report.model.training_location
    training = kit.warehouse.table(location) if location else None
    for column, values in by_column.items():
        chosen = live.filter(slice_key(live, column, kit.warehouse.dialect).isin(values))
        found = _input_stats(kit, chosen, training, report.features)
        report.slice_inputs[column] = {
            "values": values,
            "health": found.health,
            "drift": found.drift,
        }


def search_weak_slices(
    kit: Kit, report: MonitoringReport, min_count: int, progress: Progress = NO_PROGRESS
) -> list[WeakSlice]:
    """Search the report's labelled predictions for the feature values where the model does worst.

    Every logged feature and both time slices are candidates (see
    :mod:`~mlops_kit.monitoring.weak_slices`); the result is also kept in ``report.weak_slices``.
    ``progress`` is told the search begins.

    Raises:
        BackendError: a warehouse query failed.
    """
    progress.start(f"searching {report.labelled:,} labelled predictions for weak slices")
    report.weak_slices = []
    if not report.labelled:
        return report.weak_slices
    live = _window_rows(kit, report, labelled=True)
    report.weak_slices = find_weak_slices(
        kit.warehouse.execute,
        live.filter(live._label.notnull()),
        candidates(report.features, TIME_SLICES),
        report.task,
        report.positive_label or "",
        min_count=min_count,
    )
    return report.weak_slices


def _label_delay(
    kit: Kit, report: MonitoringReport, log: ir.Table, truth: ir.Table, labels: Labels
) -> None:
    """Say how many predictions have labels yet; check the calibration the estimate assumes.

    The calibration reads the model version's labelled predictions logged before the window's
    end (its labelled history), not only the window's: the window may have few labels yet. When
    the history is the window, the sliced metrics' query has found it already.
    """
    if not report.labelled:
        report.notes.append("none of the window's predictions has ground truth yet")
    elif report.labelled < report.logged:
        report.notes.append(
            f"{report.labelled} of {report.logged} predictions ({report.label_share:.0%}) have "
            f"ground truth yet: metrics of slices below {labels.min_share:.0%} labelled are "
            "pending"
        )
    if report.positive_label is None or report.calibration is not None:
        return
    history = _history(log, report.model, report.window.end)
    live = live_rows(history, truth, {}, kit.warehouse.dialect)
    rows = kit.warehouse.execute(reliability_bins(live, report.positive_label)).to_pylist()
    report.calibration = finish_calibration(rows, labels.max_calibration_error)


def _history(log: ir.Table, model: WatchedModel, end: datetime) -> ir.Table:
    """The predictions of ``model`` logged before ``end``."""
    return log.filter(
        log.model_name == model.name, log.model_version == model.version, log.logged_at < end
    )


def _missing(metrics: Mapping[str, Estimate], count: int, positive: str) -> list[str]:
    """Why a metric of the whole window has no value, one note each."""
    if not count:
        return []
    positive_class = f" ({positive!r})" if positive else " (none was found)"
    notes = []
    for name, estimate in metrics.items():
        if estimate.value is None:
            needs = METRICS[name].needs
            said = positive_class if "positive" in needs else ""
            notes.append(f"{name} has no value: it needs {needs}{said}")
    return notes


_BOOLEAN_TEXTS = {"true": True, "false": False}


def positive_class(labels: Sequence[str]) -> str | None:
    """The positive class of two labels, as a scikit-learn classifier orders them.

    A classifier's ``classes_`` are sorted and the evaluation scores ``classes_[1]``: ``True``
    of ``False``/``True``, ``1`` of ``0``/``1``, the greater of two numbers or, else, of two texts.

    Returns:
        The label, or ``None`` unless there are exactly two.
    """
    if len(set(labels)) != 2:
        return None

    def order(label: str) -> tuple[int, float | str]:
        if label.lower() in _BOOLEAN_TEXTS:
            return (0, float(_BOOLEAN_TEXTS[label.lower()]))
        return _sort_key(label)

    return max(set(labels), key=order)


@dataclass(frozen=True)
class _WindowClasses:
    """The classes of the window: its labels' values and its predictions' values.

    Labels are read from the ground truth of the window's requests (a semi-join), without
    joining the latest label to each prediction: the set of classes is all that is needed.
    """

    labels: ir.Table | None
    predicted: ir.Table

    @classmethod
    def of(cls, predictions: ir.Table, truth: ir.Table | None) -> _WindowClasses:
        labels = (
            truth.filter(
                truth.request_id.isin(predictions.request_id), truth.label.notnull()
            ).select(value=truth.label)
            if truth is not None
            else None
        )
        return cls(labels, predictions.select(value=predictions.prediction))

    def seen(self, per_side: int) -> ir.Table:
        """Up to ``per_side`` distinct labels and predicted values, with ``label`` telling which."""
        import ibis

        parts = [self.predicted.distinct().limit(per_side).mutate(label=ibis.literal(False))]
        if self.labels is not None:
            parts.insert(0, self.labels.distinct().limit(per_side).mutate(label=ibis.literal(True)))
        return ibis.union(*parts) if len(parts) > 1 else parts[0]

    def having(self, value: str) -> ir.Table:
        """One row per side on which ``value`` occurs."""
        import ibis

        parts = [self.predicted.filter(self.predicted.value == value).limit(1)]
        if self.labels is not None:
            parts.append(self.labels.filter(self.labels.value == value).limit(1))
        return ibis.union(*parts) if len(parts) > 1 else parts[0]


def _known_positive(kit: Kit, classes: _WindowClasses, positive_label: str) -> str:
    """``positive_label``, when a label or a prediction of the window is that class.

    Raises:
        ConfigError: none is (a typo, or another spelling of the class: ``1`` and ``1.0``).
    """
    hit = classes.having(positive_label)
    if kit.warehouse.execute(hit.aggregate(n=hit.count()))["n"][0].as_py():
        return positive_label
    rows = kit.warehouse.execute(classes.seen(6))["value"].to_pylist()
    seen = sorted({str(v) for v in rows})
    raise ConfigError(
        f"unknown positive label {shorten(positive_label)!r}: no label or prediction of the window "
        f"is that class (seen: {', '.join(map(repr, seen[:5]))}{', …' if len(seen) > 5 else ''}); "
        "give one of them as --positive-label or 'positive_label' in the spec"
    )


def _inferred_positive(kit: Kit, classes: _WindowClasses, report: MonitoringReport) -> str | None:
    """The positive class of the window's labels, with a note saying which and why.

    Before the labels arrive, the predicted classes stand in for them: the estimate from the
    scores needs the positive class too.
    """
    found = kit.warehouse.execute(classes.seen(3)).to_pylist()
    labels = [str(row["value"]) for row in found if row["label"]]
    source = "labels"
    if len(set(labels)) < 2 and len({str(row["value"]) for row in found}) == 2:
        labels, source = sorted({str(row["value"]) for row in found}), "labels and predictions"
    positive = positive_class(labels)
    if positive is not None:
        report.notes.append(
            f"positive class {positive!r} of the {source} {', '.join(sorted(labels))}, as the "
            "evaluation's classifier orders its classes (--positive-label to choose another)"
        )
    elif labels:
        report.notes.append(
            f"precision, recall, F1, ROC AUC and log loss need a positive class: the labels hold "
            f"{'more than two values' if len(labels) > 2 else 'one value, ' + repr(labels[0])}; "
            "pass --positive-label"
        )
    return positive


def _training_time_column(training: ir.Table, time_column: str | None) -> str | None:
    schema = training.schema()
    if time_column is not None:
        if time_column not in schema:
            raise ConfigError(
                f"time column {time_column!r} is not in the training data: use one of "
                f"{', '.join(schema.names)}"
            )
        return time_column
    return next((name for name, dtype in schema.items() if dtype.is_timestamp()), None)


def _coverage(
    kit: Kit,
    report: MonitoringReport,
    training: ir.Table | None,
    slices: Sequence[str],
    time_column: str | None,
) -> dict[str, list[dict[str, Any]]]:
    """Rows and shares of live traffic and training data in every value of every slice.

    The live rows of a slice value are the predictions its metrics counted as logged
    (``report.slices``): only the training side is queried.
    """
    stamp = _training_time_column(training, time_column) if training is not None else None
    result: dict[str, list[dict[str, Any]]] = {}
    for column in slices:
        counts: dict[str, dict[str, int]] = {
            s.value: {"live": s.logged} for s in report.slices if s.column == column
        }
        trained = (
            _training_counts(training, column, stamp, kit.warehouse.dialect)
            if training is not None
            else None
        )
        if trained is not None:
            for record in kit.warehouse.execute(trained).to_pylist():
                counts.setdefault(str(record["value"]), {})["training"] = int(record["n"])
        totals = {
            side: sum(per.get(side, 0) for per in counts.values()) for side in ("live", "training")
        }
        result[column] = [
            {
                "value": value,
                "live": per.get("live", 0),
                "live_share": per.get("live", 0) / totals["live"] if totals["live"] else 0.0,
                "training": per.get("training", 0) if trained is not None else None,
                "training_share": (
                    per.get("training", 0) / totals["training"]
                    if trained is not None and totals["training"]
                    else None
                ),
            }
            for value, per in sorted(counts.items(), key=lambda item: _sort_key(item[0]))
        ]
    return result


def _training_counts(
    training: ir.Table, column: str, stamp: str | None, dialect: str
) -> ir.Table | None:
    """Training rows per value of slice ``column`` (``None`` when the training data lacks it)."""
    if column in TIME_SLICES and stamp is not None:
        renamed = training.select(_logged_at=training[stamp].cast("timestamp"))
        return renamed.group_by(value=slice_key(renamed, column, dialect)).agg(n=renamed.count())
    if column not in training.schema():
        return None
    values = training[column]
    # A training column named like a time slice holds its whole numbers (hour 0-23, day 0-6),
    # which the live side renders as integers: "10", not "10.0".
    if column in TIME_SLICES and values.type().is_numeric():
        key = values.cast("int64").cast("string")
    else:
        key = slice_text(values)
    return training.group_by(value=key).agg(n=training.count())


@dataclass
class InputStats:
    """Drift against the training data, distributions and health of the live features."""

    health: dict[str, dict[str, Any]] = field(default_factory=dict)
    drift: dict[str, dict[str, Any]] = field(default_factory=dict)
    distributions: dict[str, dict[str, Any]] = field(default_factory=dict)


def _input_stats(
    kit: Kit, live: ir.Table, training: ir.Table | None, features: dict[str, str]
) -> InputStats:
    """Drift against the training data, distributions, and the health of each live feature."""
    found = InputStats()
    warehouse = kit.warehouse
    names = sorted(features)
    # Only the values that did not parse are kept as text: every one of them is nonconforming.
    # Features logged as numbers have none.
    logged_as_text = [name for name in names if unparsed(name) in live.columns]
    conformance = (
        stats.conformance(
            warehouse,
            live.select(**{name: live[unparsed(name)] for name in logged_as_text}),
            dict.fromkeys(logged_as_text, "float64"),
        )
        if logged_as_text
        else {}
    )
    reference: dict[str, Any] = {}
    if training is not None:
        shared = [name for name in names if name in training.schema()]
        if shared:
            reference = stats.profile(warehouse, training.select(*shared))["columns"]
    # Live numeric values are binned once, on the training bins: drift and the plots read those
    # bins, and the same query counts the values outside the training range.
    current = stats.compared_profile(warehouse, live.select(*names), reference)
    rows = current["row_count"]
    for name in names:
        column = current["columns"][name]
        present = rows - column["nulls"]
        checked = conformance.get(name, {})
        histogram = column.get("histogram")
        outside = column.get("out_of_range", 0)
        found.health[name] = {
            "kind": column["kind"],
            "null_rate": column["null_rate"],
            "empty": present == 0,
            "constant": column["distinct"] == 1,
            "nonconforming": checked.get("nonconforming", 0),
            "nonconforming_rate": checked.get("nonconforming", 0) / rows if rows else 0.0,
            "nonconforming_examples": checked.get("examples", []),
            "out_of_range": outside,
            "out_of_range_rate": outside / present if present else 0.0,
        }
        if name in reference:
            binned = (reference[name]["histogram"], histogram) if histogram else None
            measured = stats.column_drift(reference[name], column, binned)
            if measured is not None:
                found.drift[name] = measured
            shown = _distribution(reference[name], column, binned)
            if shown is not None:
                found.distributions[name] = shown
    return found


def _distribution(
    reference: dict[str, Any],
    current: dict[str, Any],
    binned: tuple[dict[str, Any], dict[str, Any]] | None,
) -> dict[str, Any] | None:
    """Shares of training and live values in ≤ 12 groups of bins (numeric) or the top categories."""
    if reference["kind"] == "numeric" and binned is not None:
        labels, training, live = stats.grouped_shares(*binned, _DISTRIBUTION_BINS)
        return {"labels": labels, "training": training, "live": live}
    if reference["kind"] == "categorical" and current.get("kind") == "categorical":
        ref = dict(map(tuple, reference.get("top", [])))
        cur = dict(map(tuple, current.get("top", [])))
        labels = [str(v) for v, _ in reference.get("top", [])[:_DISTRIBUTION_BINS]]
        labels += [str(v) for v in cur if str(v) not in labels][: _DISTRIBUTION_BINS - len(labels)]
        ref_total = sum(ref.values()) + reference.get("other", 0) or 1
        cur_total = sum(cur.values()) + current.get("other", 0) or 1
        return {
            "labels": labels,
            "training": [ref.get(v, 0) / ref_total for v in labels],
            "live": [cur.get(v, 0) / cur_total for v in labels],
        }
    return None
