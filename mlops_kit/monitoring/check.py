"""``monitor check``: judge a report against the monitoring spec, store the run, act on it.

What a stored run sets off (retraining triggers and their guards, follow-up checks,
notifications) is :mod:`mlops_kit.monitoring.triggers` and :mod:`mlops_kit.monitoring.notifications`.

A slice (or the whole window) with fewer labelled predictions than ``min_samples`` is reported but
never judged: a threshold on a handful of rows would page people for noise. While a smaller share of
a slice's predictions than ``min_label_share`` has ground truth, its metrics are pending: neither a
pass nor a violation, listed as such. Estimated metrics (``estimated_accuracy`` …) read the scores,
not the labels: they are judged on slices of at least ``min_samples`` scored predictions. Drift is
judged on every feature the training data has; health on every logged feature.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_kit.errors import ConfigError, NotFoundError, shorten
from mlops_kit.monitoring.estimation import ESTIMATED_PREFIX, estimated_metric
from mlops_kit.monitoring.evidence import violation_evidence
from mlops_kit.monitoring.metric_table import Estimate, improvement
from mlops_kit.monitoring.metrics import OVERALL, SliceMetrics
from mlops_kit.monitoring.spec import (
    DRIFT_MEASURES,
    HEALTH_MEASURES,
    MonitoringSpec,
    Threshold,
    ViolationKind,
)
from mlops_kit.monitoring.violations import Violation
from mlops_kit.progress import NO_PROGRESS, Progress, Stages

if TYPE_CHECKING:
    from mlops_kit.kit import Kit
    from mlops_kit.monitoring.report import MonitoringReport


@dataclass(frozen=True)
class Pending:
    """A metric threshold not judged yet: too few of the slice's predictions have labels."""

    name: str
    subject: str
    labelled: int
    logged: int
    min_label_share: float

    def __str__(self) -> str:
        share = self.labelled / self.logged if self.logged else 0.0
        return (
            f"{self.name} on {self.subject} waits for labels: {self.labelled} of {self.logged} predictions "
            f"labelled ({share:.0%}), judged from {self.min_label_share:.0%}"
        )


@dataclass
class CheckResult:
    """The outcome of one check run."""

    run_id: int
    violations: list[Violation]
    warnings: list[str] = field(default_factory=list)
    """Thresholds that could not be judged (see :func:`unjudged`), and scores that are not
    calibrated (the estimated metrics may be wrong)."""
    retraining_handler: str | None = None
    retraining_result: str | None = None
    triggers: list[dict[str, Any]] = field(default_factory=list)
    """What each trigger did: ``started``, ``duplicate``, ``joined``, ``waiting`` or ``refused``
    (with the ``guard`` that refused it)."""
    notifications: list[dict[str, Any]] = field(default_factory=list)
    """Each notification posted: channel, event, ``delivered`` and the ``error`` if not."""

    @property
    def refusals(self) -> list[dict[str, Any]]:
        """The triggers a guard refused."""
        return [t for t in self.triggers if t.get("outcome") == "refused"]

    pending: list[Pending] = field(default_factory=list)
    """Metric thresholds waiting for labels (see :func:`pending`)."""

    @property
    def passed(self) -> bool:
        """Whether no threshold was broken."""
        return not self.violations

    @property
    def status(self) -> str:
        """``failed`` (a violation), ``pending`` (none, but thresholds await labels), ``passed``."""
        if self.violations:
            return "failed"
        return "pending" if self.pending else "passed"

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-able data."""
        return {
            "run_id": self.run_id,
            "passed": self.passed,
            "status": self.status,
            "violations": [
                asdict(v) | {"message": str(v), "evidence": list(v.evidence)}
                for v in self.violations
            ],
            "pending": [asdict(p) | {"message": str(p)} for p in self.pending],
            "warnings": self.warnings,
            "retraining": {"handler": self.retraining_handler, "result": self.retraining_result},
            "triggers": self.triggers,
            "notifications": self.notifications,
        }


def _broken(threshold: Threshold, value: float, baseline: float | None, name: str) -> str | None:
    name = estimated_metric(name) or name
    if threshold.min is not None and value < threshold.min:
        return f"min {threshold.min:g}"
    if threshold.max is not None and value > threshold.max:
        return f"max {threshold.max:g}"
    dropped = (
        threshold.max_drop is not None
        and baseline is not None
        and -improvement(name, value, baseline) > threshold.max_drop
    )
    return f"max_drop {threshold.max_drop:g} from baseline {baseline:.4g}" if dropped else None


def _thresholds(
    report: MonitoringReport, spec: MonitoringSpec
) -> Iterator[tuple[SliceMetrics, str, str, Threshold]]:
    """Each (slice, subject, metric, threshold) the spec names, whether judged or not."""
    for part in report.slices:
        if part.column == OVERALL:
            thresholds, subject = spec.thresholds, OVERALL
        else:
            thresholds = spec.slice_thresholds.get(part.column, {})
            subject = f"{part.column}={part.value}"
        for name, threshold in thresholds.items():
            yield part, subject, name, threshold


def _measured(part: SliceMetrics, name: str, spec: MonitoringSpec) -> Estimate | None:
    """The value of metric ``name`` on ``part`` if the spec judges it there, else ``None``.

    An estimate needs ``min_samples`` scored predictions (every logged one stands in for that
    count); a metric needs ``min_samples`` labelled predictions and ``min_label_share``.
    """
    estimated = estimated_metric(name)
    if estimated is not None:
        return part.estimated.get(estimated) if part.logged >= spec.min_samples else None
    if part.count < spec.min_samples or part.awaits_labels(spec.min_label_share):
        return None
    return part.metrics.get(name)


def _judged_metrics(
    report: MonitoringReport, spec: MonitoringSpec
) -> Iterator[tuple[SliceMetrics, str, str, Threshold, float]]:
    """Each (slice, subject, metric, threshold, value) the spec judges."""
    for part, subject, name, threshold in _thresholds(report, spec):
        estimate = _measured(part, name, spec)
        if estimate is not None and estimate.value is not None:
            yield part, subject, name, threshold, estimate.value


def pending(report: MonitoringReport, spec: MonitoringSpec) -> list[Pending]:
    """The metric thresholds of slices whose labels have not reached ``min_label_share``."""
    return [
        Pending(name, subject, part.count, part.logged, spec.min_label_share)
        for part, subject, name, threshold in _thresholds(report, spec)
        if estimated_metric(name) is None
        and part.logged
        and part.awaits_labels(spec.min_label_share)
    ]


def _baseline(part: SliceMetrics, name: str) -> float | None:
    """The registry baseline of metric ``name`` (an estimate is held to its metric's)."""
    return part.baseline.get(estimated_metric(name) or name)


def _feature_violations(
    kind: ViolationKind,
    measured: Mapping[str, Mapping[str, Any]],
    thresholds: Mapping[str, Threshold],
) -> list[Violation]:
    found = []
    for feature, values in sorted(measured.items()):
        for name, threshold in thresholds.items():
            value = values.get(name)
            if isinstance(value, int | float):
                bound = _broken(threshold, float(value), None, name)
                if bound:
                    found.append(Violation(kind, name, feature, float(value), bound))
    return found


def evaluate(report: MonitoringReport, spec: MonitoringSpec) -> list[Violation]:
    """Every threshold of ``spec`` that ``report`` breaks."""
    found = [
        Violation("metrics", name, subject, value, bound)
        for part, subject, name, threshold, value in _judged_metrics(report, spec)
        if (bound := _broken(threshold, value, _baseline(part, name), name))
    ]
    found += _feature_violations("drift", report.drift, spec.drift)
    found += _feature_violations("health", report.health, spec.health)
    return found


def unjudged(report: MonitoringReport, spec: MonitoringSpec) -> list[str]:
    """The ``max_drop`` thresholds that could not be judged: the baseline lacks the metric.

    Returns:
        One line per metric and slice column, naming where the baseline is missing.
    """
    missing: dict[tuple[str, str], list[str]] = {}
    for part, subject, name, threshold, _ in _judged_metrics(report, spec):
        if threshold.max_drop is not None and _baseline(part, name) is None:
            missing.setdefault((name, part.column), []).append(subject)
    return [
        f"max_drop of {name} not checked on {', '.join(subjects)}: the registry baseline of "
        f"{report.model.ref} has no {name} there (add it to the version's metrics file)"
        for (name, _), subjects in missing.items()
    ]


def _feature_numbers(report: MonitoringReport) -> Iterator[tuple[str, str, str, Any]]:
    """``(kind, name, feature, value)`` of each drift and data-health number of the features."""
    for feature, drift in report.drift.items():
        for name in DRIFT_MEASURES:
            if name in drift:
                yield "drift", name, feature, drift[name]
    for feature, health in report.health.items():
        for name in HEALTH_MEASURES:
            yield "health", name, feature, health[name]


def _measurements(report: MonitoringReport, violations: list[Violation]) -> list[dict[str, Any]]:
    broken = {(v.name, v.subject) for v in violations}
    rows: list[dict[str, Any]] = []
    for part in report.slices:
        subject = OVERALL if part.column == OVERALL else f"{part.column}={part.value}"
        # The label share is stored as coverage: the run's spec says whether it was enough.
        rows.append(
            {
                "kind": "coverage",
                "name": "labelled_share",
                "subject": subject,
                "value": part.label_share,
                "count": part.count,
            }
        )
        numbers = [(name, estimate, part.count) for name, estimate in part.metrics.items()]
        numbers += [
            (ESTIMATED_PREFIX + name, estimate, part.logged)
            for name, estimate in part.estimated.items()
        ]
        for name, estimate, count in numbers:
            rows.append(
                {
                    "kind": "metric",
                    "name": name,
                    "subject": subject,
                    "value": estimate.value,
                    "lower": estimate.lower,
                    "upper": estimate.upper,
                    "count": count,
                    "violated": (name, subject) in broken,
                }
            )
    rows += [
        {
            "kind": kind,
            "name": name,
            "subject": feature,
            "value": value,
            "violated": (name, feature) in broken,
        }
        for kind, name, feature, value in _feature_numbers(report)
    ]
    # Each value of a coverage column: its share of the training rows, then of the live rows.
    rows += [
        {
            "kind": "coverage",
            "name": f"{side}_share",
            "subject": f"{column}={entry['value']}",
            "value": entry[f"{side}_share"],
            "count": entry[side],
        }
        for column, values in report.coverage.items()
        for entry in values
        for side in ("training", "live")
    ]
    return rows


def _with_evidence(
    kit: Kit, report: MonitoringReport, violations: list[Violation]
) -> list[Violation]:
    """The violations, each slice value's carrying its evidence (one query per slice column)."""
    from mlops_kit.monitoring.report import describe_slice_inputs

    sliced = [v.subject for v in violations if v.kind == "metrics" and "=" in v.subject]
    try:
        describe_slice_inputs(kit, report, list(dict.fromkeys(sliced)))
    except NotFoundError:
        # A report judged away from its log (replayed, or its rows since expired) has no inputs
        # to describe; the violations stand without evidence.
        return violations
    return [
        replace(v, evidence=violation_evidence(report, v.subject)) if v.subject in sliced else v
        for v in violations
    ]


_SUBJECT_LENGTH = 200  # the width of monitoring_measurements.subject


def run_check(
    kit: Kit,
    report: MonitoringReport,
    spec: MonitoringSpec,
    *,
    retrain: bool = True,
    now: datetime | None = None,
    environ: Mapping[str, str] | None = None,
) -> CheckResult:
    """Judge ``report``, store the run, act on its triggers and notify the spec's channels.

    The run is stored before anything is triggered, so a failing handler never loses the
    numbers; what the triggers did (started, duplicate, refused by a named guard), the handler's
    answer (or its error) and every notification's delivery are then recorded on the run.

    Args:
        kit: the environment.
        report: the report to judge.
        spec: the monitoring spec.
        retrain: whether triggers may start retraining runs.
        now: the moment of the check (default: now); guards and records use it.
        environ: where ``${VARIABLE}`` webhook URLs are read (default: none).

    Raises:
        BackendError: the metadata database is unreachable.
    """
    from mlops_kit.db.models.monitoring import MonitoringMeasurement, MonitoringRun
    from mlops_kit.monitoring.notifications import notify
    from mlops_kit.monitoring.triggers import act

    now = now or datetime.now(UTC)
    violations = _with_evidence(kit, report, evaluate(report, spec))
    with kit.metadata.session() as session:
        run = MonitoringRun(
            model_name=report.model.name,
            model_version=report.model.version,
            window_start=report.window.start,
            window_end=report.window.end,
            created_at=now,
            passed=not violations,
            violation_count=len(violations),
            labelled_count=report.labelled,
            spec=spec.stored(),
            violations=[asdict(v) for v in violations],
        )
        session.add(run)
        session.flush()
        session.add_all(
            MonitoringMeasurement(
                run_id=run.id, **{**row, "subject": shorten(row["subject"], _SUBJECT_LENGTH)}
            )
            for row in _measurements(report, violations)
        )
        run_id = run.id
    warnings = unjudged(report, spec)
    # The report states the calibration always; the check warns where it judges on estimates.
    if report.calibration_warning and any(
        estimated_metric(name) for _, _, name, _ in _thresholds(report, spec)
    ):
        warnings.append(report.calibration_warning)
    outcome = act(kit, report, spec, run_id, violations, retrain=retrain, now=now)
    delivered = notify(spec.notifications, outcome.events, environ or {}, now)
    result = CheckResult(
        run_id,
        violations,
        warnings,
        outcome.handler,
        outcome.result,
        outcome.triggers,
        delivered,
        pending(report, spec),
    )
    with kit.metadata.session() as session:
        stored = session.get(MonitoringRun, run_id)
        assert stored is not None
        stored.retraining_handler = result.retraining_handler
        stored.retraining_result = result.retraining_result
        stored.triggers = result.triggers
        stored.notifications = result.notifications
    return result


def check_model(
    kit: Kit,
    spec: MonitoringSpec,
    ref: str | None = None,
    *,
    end: datetime | None = None,
    retrain: bool = True,
    environ: Mapping[str, str] | None = None,
    progress: Progress = NO_PROGRESS,
) -> tuple[MonitoringReport, CheckResult]:
    """``monitor check``, by hand or as a scheduled job: report on the model, then :func:`run_check`.

    Args:
        kit: the environment.
        spec: the monitoring spec.
        ref: the model version (default: the spec's ``model``).
        end: the moment the check runs as of: the window's end, and the clock of its guards and
            records (default: now).
        retrain: whether triggers may start retraining runs.
        environ: where ``${VARIABLE}`` webhook URLs are read.
        progress: told the stages of the report, then of the judgement.

    Raises:
        ConfigError: no model is named.
        NotFoundError: the model version does not exist.
    """
    ref = ref or spec.model
    if ref is None:
        raise ConfigError("no model to check: pass NAME@VERSION or set 'model' in the spec")
    now = end or datetime.now(UTC)
    stages = Stages(progress, spec_report_stages(spec) + 1)
    report = spec_report(kit, spec, ref, end=now, progress=stages)
    stages.start(f"judging {ref} against the spec")
    return report, run_check(kit, report, spec, retrain=retrain, now=now, environ=environ)


def spec_report_stages(spec: MonitoringSpec) -> int:
    """How many stages :func:`spec_report` reports: the report's, and the weak slices' search."""
    from mlops_kit.monitoring.report import REPORT_STAGES

    return REPORT_STAGES + (spec.weak_slices is not None)


def spec_report(
    kit: Kit,
    spec: MonitoringSpec,
    ref: str,
    *,
    end: datetime,
    progress: Progress = NO_PROGRESS,
) -> MonitoringReport:
    """The report the spec asks for on ``ref``: its slices, window, task, labels, weak slices.

    ``progress`` is told its stages (:func:`spec_report_stages` of them).

    Raises:
        NotFoundError: the model version does not exist.
    """
    from mlops_kit.monitoring.report import build_report, search_weak_slices, watched_model
    from mlops_kit.monitoring.window import Window

    stages = Stages.of(progress, spec_report_stages(spec))
    report = build_report(
        kit,
        watched_model(kit, ref),
        window=Window.last(spec.window, end),
        slices=spec.slices,
        task=spec.task,
        time_column=spec.time_column,
        labels=spec.labels,
        progress=stages,
    )
    if spec.weak_slices is not None:
        search_weak_slices(kit, report, spec.weak_slices.min_count, stages)
    return report
