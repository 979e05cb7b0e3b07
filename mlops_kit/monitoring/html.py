"""The monitoring report as one offline HTML page (through :mod:`mlops_kit.reports`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from mlops_kit.monitoring.diagnosis import report_findings
from mlops_kit.monitoring.estimation import ESTIMATED_METRICS, MIN_CALIBRATION_ROWS
from mlops_kit.monitoring.metric_table import METRICS, Estimate, Task, metric_names
from mlops_kit.monitoring.metrics import OVERALL, SliceMetrics
from mlops_kit.reports import Page, format_number

if TYPE_CHECKING:
    from mlops_kit.findings import Finding
    from mlops_kit.monitoring.report import MonitoringReport
    from mlops_kit.monitoring.violations import Violation


_DRIFT_COLUMNS: Final = {
    "test": "test",
    "psi": "psi",
    "ks": "ks",
    "ks p-value": "ks_pvalue",
    "js": "js",
}
"""The drift table's headings and the measure of :func:`mlops_kit.stats.column_drift` each shows."""

_HEALTH_COLUMNS: Final = {
    "kind": "kind",
    "null rate": "null_rate",
    "empty": "empty",
    "constant": "constant",
    "nonconforming": "nonconforming",
    "out of range": "out_of_range_rate",
    "examples": "nonconforming_examples",
}
"""The data health table's headings and the measure of a live feature's health each shows."""


def write_html(
    report: MonitoringReport,
    path: Path,
    violations: list[Violation] | None = None,
    findings: list[Finding] | None = None,
) -> Path:
    """Write ``report`` (and the violations of a check, if any) to ``path``, its findings first.

    Args:
        report: the report.
        path: the page's file.
        violations: the violations of a check of the report.
        findings: the findings to put at the top (default: those of the report and violations).

    Raises:
        ConfigError: the file cannot be written.
    """
    page = Page(f"Monitoring {report.model.ref}")
    page.paragraph(
        f"{report.window.start:%Y-%m-%d %H:%M} – {report.window.end:%Y-%m-%d %H:%M} UTC · "
        f"{report.logged} predictions logged, {report.labelled} with ground truth "
        f"({report.label_share:.0%}; metrics pending below {report.min_label_share:.0%}) · "
        f"trained on {', '.join(report.model.training_data) or 'unknown data'}"
    )
    page.findings(report_findings(report, violations) if findings is None else findings)
    if report.calibration_warning:
        page.paragraph(f"Warning: {report.calibration_warning}")
    for note in report.notes:
        page.paragraph(note, note=True)
    broken = {(v.name, v.subject) for v in violations or []}
    if violations:
        page.heading(f"Violations ({len(violations)})")
        page.table(
            ["kind", "measure", "where", "value", "bound"],
            [[v.kind, v.name, v.subject, v.value, v.bound] for v in violations],
            flagged=range(len(violations)),
        )
    columns = sorted({s.column for s in report.slices if s.column != OVERALL})
    for column in [OVERALL, *columns]:
        parts = [s for s in report.slices if s.column == column]
        if parts:
            _metrics_section(page, report, column, parts, broken)
            _estimated_section(page, column, parts)
    _calibration_section(page, report)
    _weak_slices_section(page, report)
    _coverage_section(page, report)
    _drift_section(page, report, broken)
    _distributions_section(page, report)
    _health_section(page, report)
    page.paragraph(f"{legend(report.task)} Drift binning: see mlops_kit.stats.", note=True)
    return page.write(path)


def legend(task: Task) -> str:
    """Which interval each metric of ``task`` has, from the table of metrics."""
    by_kind: dict[str, list[str]] = {}
    for name in metric_names(task):
        by_kind.setdefault(METRICS[name].interval, []).append(name)
    kinds = [f"{kind} ({', '.join(names)})" for kind, names in by_kind.items() if kind != "none"]
    text = f"95 % intervals: {', '.join(kinds)}."
    if "none" in by_kind:
        text += f" No interval: {', '.join(by_kind['none'])}."
    if task == "classification":
        text += " Classification metrics are binary: the positive label against the rest."
    return text


def _estimate_text(estimate: Estimate, baseline: float | None) -> str:
    interval = (
        f" [{format_number(estimate.lower)}, {format_number(estimate.upper)}]"
        if estimate.lower is not None
        else ""
    )
    compared = "" if baseline is None else f" (baseline {format_number(baseline)})"
    return format_number(estimate.value) + interval + compared


def _metrics_section(
    page: Page,
    report: MonitoringReport,
    column: str,
    parts: list[SliceMetrics],
    broken: set[tuple[str, str]],
) -> None:
    task = report.task
    page.heading("Overall metrics" if column == OVERALL else f"Metrics by {column}")
    names = list(parts[0].metrics)
    rows: list[list[object]] = []
    flagged = []
    for index, part in enumerate(parts):
        subject = OVERALL if column == OVERALL else f"{column}={part.value}"
        if any((name, subject) in broken for name in names):
            flagged.append(index)
        # Too few labels yet: the values are provisional, neither a pass nor a failure.
        pending = " · pending" if part.awaits_labels(report.min_label_share) else ""
        rows.append(
            [
                part.value,
                part.logged,
                f"{part.count} ({part.label_share:.0%}){pending}",
                *(_estimate_text(part.metrics[n], part.baseline.get(n)) + pending for n in names),
            ]
        )
    if column != OVERALL:
        main = metric_names(task)[0]
        page.intervals(
            f"{main} by {column} (bars: the value; error bars: its 95 % interval)",
            [part.value for part in parts],
            [part.metrics[main].value for part in parts],
            [(part.metrics[main].lower, part.metrics[main].upper) for part in parts],
            value_label=main,
            flagged=flagged,
        )
    page.table([column, "logged", "labelled", *names], rows, flagged=flagged)


def _estimated_section(page: Page, column: str, parts: list[SliceMetrics]) -> None:
    """The metrics estimated from the scores beside the realised ones, where there are labels."""
    names = [name for name in ESTIMATED_METRICS if any(name in p.estimated for p in parts)]
    if not names:
        return
    page.heading(
        "Estimated from the scores (CBPE), against realised"
        + ("" if column == OVERALL else f" by {column}")
    )
    rows = [
        [
            part.value,
            part.logged,
            f"{part.label_share:.0%}",
            *(
                f"{_estimate_text(part.estimated[n], None)} / "
                f"{format_number(part.metrics[n].value) if n in part.metrics else '–'}"
                for n in names
            ),
        ]
        for part in parts
    ]
    page.table([column, "logged", "labelled", *(f"{n}: estimated / realised" for n in names)], rows)


def _calibration_section(page: Page, report: MonitoringReport) -> None:
    calibration = report.calibration
    if calibration is None:
        return
    page.heading("Calibration of the scores (labelled history)")
    if not calibration.checked:
        page.paragraph(
            f"Not checked: {calibration.rows} labelled predictions with scores, fewer than "
            f"{MIN_CALIBRATION_ROWS}.",
            note=True,
        )
        return
    page.paragraph(
        f"Expected calibration error {format_number(calibration.ece)} on {calibration.rows} "
        f"labelled predictions (limit {calibration.max_error:g}); the estimated metrics assume "
        "calibrated scores."
    )
    bins = calibration.bins
    page.table(
        ["scores", "rows", "mean score", "share positive", "95 % interval"],
        [
            [
                f"{b.lower:.1f}–{b.upper:.1f}",
                b.count,
                b.mean_score,
                b.positive_share.value,
                f"{format_number(b.positive_share.lower)}–{format_number(b.positive_share.upper)}",
            ]
            for b in bins
        ],
        flagged=[i for i, b in enumerate(bins) if b.off],
    )


def _weak_slices_section(page: Page, report: MonitoringReport) -> None:
    if report.weak_slices is None:
        return
    page.heading(f"Weak slices found ({len(report.weak_slices)})")
    if not report.weak_slices:
        page.paragraph(
            "No feature value is worse than overall beyond its 95 % interval.", note=True
        )
        return
    page.table(
        ["slice", "rows", "metric", "value", "95 % interval", "overall"],
        [
            [
                w.subject,
                w.count,
                w.metric,
                w.estimate.value,
                f"{format_number(w.estimate.lower)}–{format_number(w.estimate.upper)}",
                w.overall,
            ]
            for w in report.weak_slices
        ],
        flagged=range(len(report.weak_slices)),
    )


def _coverage_section(page: Page, report: MonitoringReport) -> None:
    for column, entries in report.coverage.items():
        page.heading(f"Coverage by {column}: training data vs live traffic")
        series = {"live": [e["live_share"] for e in entries]}
        if entries and entries[0]["training_share"] is not None:
            series["training"] = [e["training_share"] for e in entries]
        page.bars(f"share of rows by {column}", [e["value"] for e in entries], series, width=720)
        page.table(
            [column, "live rows", "live share", "training rows", "training share"],
            [
                [e["value"], e["live"], e["live_share"], e["training"], e["training_share"]]
                for e in entries
            ],
            flagged=[i for i, e in enumerate(entries) if e["training"] == 0 and e["live"]],
        )


def _drift_section(page: Page, report: MonitoringReport, broken: set[tuple[str, str]]) -> None:
    if not report.drift:
        return
    page.heading("Drift against the training data")
    names = sorted(report.drift)
    page.bars(
        "drift per feature (PSI for numeric, Jensen–Shannon for categorical)",
        names,
        {"drift": [report.drift[n].get("psi", report.drift[n].get("js", 0.0)) for n in names]},
        width=720,
        value_label="PSI or JS",
    )
    # A violation names the feature as its subject, whichever measure broke.
    subjects = {subject for _, subject in broken}
    _feature_table(page, report.drift, _DRIFT_COLUMNS, lambda name, _: name in subjects)


def _distributions_section(page: Page, report: MonitoringReport) -> None:
    if report.distributions:
        page.heading("Distributions: training data vs live traffic (share of rows)")
    for name, shown in sorted(report.distributions.items()):
        page.bars(
            name,
            shown["labels"],
            {"training": shown["training"], "live": shown["live"]},
            width=360,
            height=140,
        )


def _health_section(page: Page, report: MonitoringReport) -> None:
    if not report.health:
        return
    page.heading("Data health of the live features")
    _feature_table(
        page, report.health, _HEALTH_COLUMNS, lambda _, h: bool(h["empty"] or h["nonconforming"])
    )


def _feature_table(
    page: Page,
    measures: Mapping[str, Mapping[str, Any]],
    columns: Mapping[str, str],
    flagged: Callable[[str, Mapping[str, Any]], bool],
) -> None:
    """A table of one row per feature of ``measures``, in name order.

    Args:
        page: the page.
        measures: the measures of each feature, by name.
        columns: each column's heading and the measure it shows (absent: an empty cell).
        flagged: whether a feature's row is highlighted, from its name and measures.
    """
    names = sorted(measures)
    page.table(
        ["feature", *columns],
        [[name, *(measures[name].get(key) for key in columns.values())] for name in names],
        flagged=[i for i, name in enumerate(names) if flagged(name, measures[name])],
    )
