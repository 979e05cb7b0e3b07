"""What a monitoring report (and the violations of a check) found, as ranked findings.

A violated slice carries what else is known about it: its training coverage ("0 training rows at
hour_of_day=3") and the drift and health problems of the live inputs in the violated values
(:mod:`~mlops_kit.monitoring.evidence`). Without a spec, a slice is flagged
when its whole 95 % interval lies below the registry baseline of its metric; live traffic at
slice values the training data never had, empty features, values that are not numbers and drift
above the data-versioning limits are findings too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlops_kit.data.diagnosis import LARGE_JS, LARGE_PSI
from mlops_kit.findings import Finding, Severity, names, percent, ranked
from mlops_kit.monitoring.evidence import input_problems
from mlops_kit.monitoring.metric_table import metric_names
from mlops_kit.monitoring.metrics import OVERALL
from mlops_kit.reports import format_number

if TYPE_CHECKING:
    from mlops_kit.monitoring.report import MonitoringReport
    from mlops_kit.monitoring.violations import Violation


def report_findings(
    report: MonitoringReport, violations: Sequence[Violation] | None = None
) -> list[Finding]:
    """The findings of ``report``; with a check's ``violations``, those lead, grouped by metric."""
    found = (
        _violation_findings(report, violations)
        if violations is not None
        else _below_baseline(report)
    )
    found += _coverage_gaps(report)
    named = {subject for finding in found for subject in finding.evidence.get("slices", [])}
    found += _weak_slice_findings(report, named)
    found += _input_findings(report)
    return ranked(found)


def _untrained(report: MonitoringReport, column: str) -> dict[str, dict[str, Any]]:
    """The values of slice ``column`` with live traffic and no training rows."""
    return {
        entry["value"]: entry
        for entry in report.coverage.get(column, [])
        if entry["training"] == 0 and entry["live"]
    }


def _slice_evidence(report: MonitoringReport, subjects: Sequence[str]) -> dict[str, list[str]]:
    return {
        "slices": list(subjects),
        "versions": [report.model.ref],
        "datasets": list(report.model.training_data),
    }


def _grouped(
    report: MonitoringReport,
    metric: str,
    column: str,
    worst: Sequence[tuple[str, float]],
    what: str,
    severity: Severity,
) -> Finding:
    """One finding for the values of one slice column where ``metric`` failed, worst first."""
    worst = sorted(worst, key=lambda item: item[1])
    if column == OVERALL:
        return Finding(
            severity,
            f"{metric} {format_number(worst[0][1])} {what} over the whole window",
            _slice_evidence(report, [OVERALL]),
            weight=1.0,
        )
    values = [value for value, _ in worst]
    total = len([s for s in report.slices if s.column == column])
    shown = ", ".join(f"{v} {format_number(x)}" for v, x in worst[:6])
    more = f", … {len(worst) - 6} more" if len(worst) > 6 else ""
    statement = (
        f"{metric} {what} on {len(worst)} of {total} values of {column} "
        f"(worst first: {shown}{more})"
    )
    untrained = _untrained(report, column)
    lacking = [v for v in values if v in untrained]
    cause = None
    problems = input_problems(report, column)
    if problems:
        statement += "; " + "; ".join(problems)
        cause = (
            f"the inputs at these values of {column} differ from the training data: look at the "
            "source of " + names(sorted({p.split(" ", 1)[0] for p in problems}), 8)
        )
    if lacking:
        statement += (
            f"; 0 training rows at {column}={names(lacking, 8)}"
            if len(lacking) < len(values)
            else f"; every one of them has 0 training rows in "
            f"{names(report.model.training_data) or 'the training data'}"
        )
        cause = (
            f"the training data has no rows at these values of {column}: "
            "retrain on data that covers them"
        )
    return Finding(
        severity,
        statement,
        _slice_evidence(report, [f"{column}={v}" for v in values]),
        cause,
        weight=len(worst) / max(total, 1) + (1.0 if lacking else 0.0),
    )


def _violation_findings(report: MonitoringReport, violations: Sequence[Violation]) -> list[Finding]:
    by_metric: dict[tuple[str, str, str], list[tuple[str, float]]] = {}
    found = []
    for violation in violations:
        if violation.kind == "metrics":
            column, _, value = violation.subject.partition("=")
            bound = violation.bound.split(" from ")[0]
            by_metric.setdefault((violation.name, column, bound), []).append(
                (value or OVERALL, violation.value)
            )
        else:
            found.append(
                Finding(
                    Severity.broken,
                    f"{violation.subject}: {violation.name} {format_number(violation.value)} "
                    f"breaks {violation.bound}",
                    {"columns": [violation.subject], "versions": [report.model.ref]},
                    weight=0.5,
                )
            )
    for (metric, column, bound), worst in by_metric.items():
        found.append(_grouped(report, metric, column, worst, f"breaks {bound}", Severity.broken))
    return found


def _below_baseline(report: MonitoringReport) -> list[Finding]:
    """Slices whose whole interval lies below the baseline of the report's main metric.

    A slice value without a baseline of its own is held to the version's overall one.
    """
    overall = report.slice(OVERALL, "all")
    if overall is None:
        return []
    main = metric_names(report.task)[0]
    by_column: dict[str, list[tuple[str, float]]] = {}
    for part in report.slices:
        estimate = part.metrics.get(main)
        baseline = part.baseline.get(main, overall.baseline.get(main))
        if estimate is None or estimate.upper is None or baseline is None:
            continue
        if estimate.upper < baseline and estimate.value is not None:
            by_column.setdefault(part.column, []).append((part.value, estimate.value))
    return [
        _grouped(
            report,
            main,
            column,
            worst,
            "below its baseline beyond the 95 % interval",
            Severity.warning,
        )
        for column, worst in by_column.items()
    ]


def _coverage_gaps(report: MonitoringReport) -> list[Finding]:
    found = []
    for column in report.coverage:
        untrained = _untrained(report, column)
        if not untrained:
            continue
        share = sum(entry["live_share"] for entry in untrained.values())
        values = list(untrained)
        found.append(
            Finding(
                Severity.warning,
                f"{percent(share)} of live traffic is at {column}={names(values, 8)}, where "
                f"{names(report.model.training_data) or 'the training data'} has 0 rows",
                _slice_evidence(report, [f"{column}={v}" for v in values]),
                weight=share,
            )
        )
    return found


def _weak_slice_findings(report: MonitoringReport, named: set[str]) -> list[Finding]:
    """The weak slices the search found that no other finding names, as one, worst first."""
    weak = [w for w in report.weak_slices or [] if w.subject not in named]
    if not weak:
        return []
    first = weak[0]
    shown = "; ".join(
        f"{w.subject} {format_number(w.estimate.value)} ({w.count} rows)" for w in weak[:5]
    )
    more = f"; … {len(weak) - 5} more" if len(weak) > 5 else ""
    return [
        Finding(
            Severity.warning,
            f"{first.metric} is worse than {format_number(first.overall)} overall, beyond the "
            f"95 % interval, at {len(weak)} feature values the search found (worst first: "
            f"{shown}{more})",
            _slice_evidence(report, [w.subject for w in weak]),
            weight=abs(first.overall - (first.estimate.value or first.overall)),
        )
    ]


def _input_findings(report: MonitoringReport) -> list[Finding]:
    found = []
    evidence: Mapping[str, list[str]]
    for name, health in sorted(report.health.items()):
        evidence = {"columns": [name], "versions": [report.model.ref]}
        if health["empty"]:
            found.append(
                Finding(
                    Severity.broken, f"{name} is empty in the live inputs", evidence, weight=1.0
                )
            )
        elif health["nonconforming"]:
            examples = ", ".join(f"{v!r} ×{k}" for v, k in health["nonconforming_examples"][:3])
            found.append(
                Finding(
                    Severity.broken,
                    f"{name}: {health['nonconforming']} live values "
                    f"({percent(health['nonconforming_rate'])}) are not numbers (e.g. {examples})",
                    evidence,
                    weight=health["nonconforming_rate"],
                )
            )
    for name, drift in sorted(report.drift.items()):
        measure, limit = ("psi", LARGE_PSI) if "psi" in drift else ("js", LARGE_JS)
        if drift.get(measure, 0.0) > limit:
            found.append(
                Finding(
                    Severity.warning,
                    f"{name} drifted from the training data: {measure.upper()} "
                    f"{format_number(drift[measure])} > {limit}",
                    {"columns": [name], "versions": [report.model.ref]},
                    weight=drift[measure],
                )
            )
    return found
