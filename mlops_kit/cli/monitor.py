"""``mlops-kit monitor``: sliced metrics, drift and data health of a deployed model version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlops_kit.cli.options import EnvOption
from mlops_kit.cli.output import FormatOption, OutputFormat, console, print_result, table
from mlops_kit.cli.progress import progress
from mlops_kit.cli.state import kit_for, state
from mlops_kit.reports import format_number

if TYPE_CHECKING:
    from mlops_kit.monitoring import CheckResult, MonitoringReport, MonitoringSpec, Violation
    from mlops_kit.monitoring.metric_table import Estimate
    from mlops_kit.monitoring.metrics import SliceMetrics

app = typer.Typer(
    help="Monitor model versions: sliced metrics, drift, health, checks.", no_args_is_help=True
)

End = Annotated[
    str | None, typer.Option(help="End of the window, ISO 8601 with timezone (default: now).")
]
"""The end of the window a command looks at, as given; :func:`_end` reads it."""

SpecFile = Annotated[Path, typer.Option("--spec", help="The monitoring spec (YAML).")]
"""The monitoring spec a command reads."""

HtmlPage = Annotated[Path | None, typer.Option(help="Also write an offline HTML page here.")]
"""Where to write the report as an offline HTML page."""


def _end(text: str | None) -> datetime | None:
    from mlops_kit.errors import ConfigError, shorten

    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ConfigError(
            f"invalid --end {shorten(text)!r}: use ISO 8601 with a timezone (2026-11-20T00:00Z)"
        )
    return moment


_SHOWN_VALUES = 10
"""Slice values listed per slice column unless --all-slices: the worst ones."""


@dataclass(frozen=True)
class Layout:
    """What the terminal shows of a report: the metrics by slice, intervals, every value."""

    metrics: tuple[str, ...] = ()
    """Metrics shown per slice value (default: the task's first)."""
    intervals: bool = False
    all_values: bool = False


def _print(report: MonitoringReport, violations: list[Violation], layout: Layout) -> None:
    console.print(
        f"[bold]{report.model.ref}[/bold]  {report.window.start:%Y-%m-%d %H:%M} – "
        f"{report.window.end:%Y-%m-%d %H:%M} UTC  logged {report.logged}, labelled "
        f"{report.labelled} ({report.label_share:.0%})"
    )
    if report.calibration_warning:
        console.print(f"[yellow]warning:[/yellow] {report.calibration_warning}", highlight=False)
    for note in report.notes:
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    _print_metrics(report, violations, layout)
    if report.weak_slices is not None:
        console.print(
            table(
                "weak slices found, worst first",
                ["slice", "rows", "metric", "value", "95 % interval", "overall"],
                [
                    [
                        w.subject,
                        w.count,
                        w.metric,
                        w.estimate.value,
                        _interval(w.estimate),
                        w.overall,
                    ]
                    for w in report.weak_slices
                ],
            )
        )
    for column, entries in report.coverage.items():
        # Gaps first: the values with the fewest training rows for their live traffic.
        ordered = sorted(entries, key=lambda e: (e["training_share"] or 0) - e["live_share"])
        shown = ordered if layout.all_values else ordered[:_SHOWN_VALUES]
        console.print(
            table(
                f"coverage by {column}, gaps first",
                [column, "live", "live share", "training", "training share"],
                [
                    [e["value"], e["live"], e["live_share"], e["training"], e["training_share"]]
                    for e in shown
                ],
            )
        )
        _rest(len(entries) - len(shown), column, "")
    if report.drift:
        console.print(
            table(
                "drift against the training data",
                ["feature", "test", "psi", "ks", "js"],
                [
                    [n, d["test"], d.get("psi"), d.get("ks"), d.get("js")]
                    for n, d in sorted(report.drift.items())
                ],
            )
        )
    if report.health:
        console.print(
            table(
                "data health",
                ["feature", "null rate", "empty", "constant", "nonconforming", "out of range"],
                [
                    [
                        n,
                        h["null_rate"],
                        h["empty"],
                        h["constant"],
                        h["nonconforming"],
                        h["out_of_range_rate"],
                    ]
                    for n, h in sorted(report.health.items())
                ],
            )
        )


def _rest(hidden: int, column: str, summary: str) -> None:
    if hidden > 0:
        console.print(
            f"  … {hidden} more values of {column}{summary} (--all-slices lists them)",
            highlight=False,
        )


def _interval(estimate: Estimate) -> str:
    if estimate.lower is None or estimate.upper is None:
        return ""
    return f"{format_number(estimate.lower)}–{format_number(estimate.upper)}"


def _print_metrics(report: MonitoringReport, violations: list[Violation], layout: Layout) -> None:
    from mlops_kit.monitoring.metric_table import metric_names
    from mlops_kit.monitoring.metrics import OVERALL

    overall = report.slice(OVERALL, "all")
    if overall is None:
        return
    _print_overall(report, overall)
    shown = list(layout.metrics) or metric_names(report.task)[:1]
    broken = {v.subject for v in violations}
    for column in dict.fromkeys(s.column for s in report.slices if s.column != OVERALL):
        parts = [s for s in report.slices if s.column == column]
        main = shown[0]
        # Worst first by the first metric shown (higher is better unless the table says lower).
        parts.sort(key=lambda p: _badness(p.metrics.get(main), main))
        listed = parts if layout.all_values else parts[:_SHOWN_VALUES]
        estimates = any(part.estimated for part in parts)
        headers = [column, "count", "labelled"]
        for name in shown:
            headers += [name, *(["95 % interval"] if layout.intervals else [])]
            headers += [*([f"est. {name}"] if estimates else []), "baseline"]
        headers.append("")
        rows = [
            _slice_row(
                part,
                shown,
                layout.intervals,
                estimates,
                "FAIL" if f"{column}={part.value}" in broken else "",
                report.min_label_share,
            )
            for part in listed
        ]
        console.print(table(f"{', '.join(shown)} by {column}, worst first", headers, rows))
        rest = [p.metrics[main].value for p in parts[len(listed) :] if main in p.metrics]
        values = [v for v in rest if v is not None]
        spread = (
            f", {main} {format_number(min(values))} to {format_number(max(values))}"
            if values
            else ""
        )
        _rest(len(parts) - len(listed), column, spread)


def _slice_row(
    part: SliceMetrics,
    shown: list[str],
    intervals: bool,
    estimates: bool,
    verdict: str,
    min_label_share: float,
) -> list[object]:
    """One slice value's row: counts, each metric shown (pending while labels are missing)."""
    waiting = part.awaits_labels(min_label_share)
    row: list[object] = [part.value, part.count, f"{part.label_share:.0%}"]
    for name in shown:
        estimate = part.metrics.get(name)
        row.append(_pending(estimate.value if estimate else None, waiting))
        if intervals:
            row.append(_interval(estimate) if estimate else "")
        if estimates:
            guess = part.estimated.get(name)
            row.append(guess.value if guess else None)
        row.append(part.baseline.get(name))
    row.append(verdict or ("pending" if waiting else ""))
    return row


def _print_overall(report: MonitoringReport, overall: SliceMetrics) -> None:
    """The metrics of the whole window, beside their estimates from the scores."""
    waiting = overall.awaits_labels(report.min_label_share)
    title = "metrics over the window"
    if report.positive_label:
        title += f" (positive class {report.positive_label!r})"
    if waiting:
        title += f", pending: {overall.label_share:.0%} labelled of {report.min_label_share:.0%}"
    headers = ["metric", "live", "95 % interval"]
    if overall.estimated:
        headers += ["estimated", "estimate's interval"]
    rows = []
    for name, e in overall.metrics.items():
        cells: list[object] = [name, _pending(e.value, waiting), _interval(e)]
        if overall.estimated:
            guess = overall.estimated.get(name)
            cells += [guess.value, _interval(guess)] if guess else ["", ""]
        rows.append([*cells, overall.baseline.get(name)])
    console.print(table(title, [*headers, "baseline"], rows))


def _pending(value: float | None, waiting: bool) -> object:
    """A metric's cell: its value, marked pending while too few predictions have labels."""
    if not waiting:
        return value
    return "pending" if value is None else f"{format_number(value)} (pending)"


def _badness(estimate: Estimate | None, name: str) -> float:
    from mlops_kit.monitoring.metric_table import improvement

    if estimate is None or estimate.value is None:
        return float("inf")
    # The more a value improves on 0, the better; worst values sort first.
    return improvement(name, estimate.value, 0.0)


def _print_loop(outcome: CheckResult) -> None:
    from rich.markup import escape

    for trigger in outcome.triggers:
        said = escape(str(trigger.get("message", "")))
        if trigger["outcome"] == "refused":
            console.print(
                f"[yellow]refused:[/yellow] retraining ({trigger['kind']}) by guard "
                f"[bold]{trigger['guard']}[/bold]: {said}"
            )
        elif trigger["outcome"] != "started":
            console.print(f"trigger {trigger['kind']}: {trigger['outcome']} {said}".rstrip())
    if outcome.retraining_handler:
        console.print(
            f"retraining requested through {outcome.retraining_handler!r}: "
            f"{escape(str(outcome.retraining_result))}"
        )
    for sent in outcome.notifications:
        if not sent["delivered"]:
            console.print(
                f"[yellow]warning:[/yellow] notification {sent['event']} to {sent['channel']} "
                f"not delivered: {escape(sent['error'])}"
            )


@app.command()
def report(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="Model version, NAME@VERSION or NAME@ALIAS.")],
    window: Annotated[str, typer.Option(help="How far back to look: 12h, 7d, 2w.")] = "7d",
    slices: Annotated[
        list[str] | None,
        typer.Option("--slice", help="Slice by hour_of_day, day_of_week or a feature (repeat)."),
    ] = None,
    task: Annotated[
        str,
        typer.Option(
            help="classification (binary: the positive label against the rest) or regression."
        ),
    ] = "classification",
    positive_label: Annotated[
        str | None,
        typer.Option(
            help="Label of the positive class; every other label is negative (default: the "
            "greater of two labels, as the evaluation's classifier orders them: True, 1)."
        ),
    ] = None,
    time_column: Annotated[
        str | None, typer.Option(help="Timestamp column of the training data for coverage.")
    ] = None,
    end: End = None,
    output: FormatOption = OutputFormat.table,
    html: HtmlPage = None,
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", help="Metric shown per slice value (repeat; default: the first)."),
    ] = None,
    intervals: Annotated[
        bool, typer.Option("--intervals", help="Show the 95 % interval of each slice value.")
    ] = False,
    all_slices: Annotated[
        bool, typer.Option("--all-slices", help="List every slice value, not the worst ten.")
    ] = False,
    min_label_share: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Show a slice's metrics as pending until this share of its predictions has "
            "ground truth (default: 0.5, as in the monitoring spec).",
        ),
    ] = None,
    find_weak_slices: Annotated[
        bool,
        typer.Option(
            "--find-weak-slices",
            help="Search the logged features for the values where the model does worst.",
        ),
    ] = False,
    min_count: Annotated[
        int, typer.Option(min=1, help="Fewest labelled predictions of a weak slice listed.")
    ] = 50,
) -> None:
    """Sliced metrics with intervals, coverage, drift and data health of MODEL's predictions.

    For a classifier with logged scores, the metrics are also estimated from the scores (valid
    before the labels arrive, if the scores are calibrated: the report checks that).
    """
    from mlops_kit.errors import ConfigError
    from mlops_kit.monitoring import build_report, watched_model
    from mlops_kit.monitoring.diagnosis import report_findings
    from mlops_kit.monitoring.html import write_html
    from mlops_kit.monitoring.report import REPORT_STAGES, search_weak_slices
    from mlops_kit.monitoring.spec import DEFAULT_MIN_LABEL_SHARE, Labels
    from mlops_kit.monitoring.window import Window
    from mlops_kit.progress import Stages

    if task not in ("classification", "regression"):
        raise ConfigError(f"invalid --task {task!r}: use classification or regression")
    from mlops_kit.monitoring.metric_table import metric_names

    shown = tuple(metric or ())
    known = metric_names("classification" if task == "classification" else "regression")
    unknown = [name for name in shown if name not in known]
    if unknown:
        raise ConfigError(f"unknown --metric {unknown[0]!r}: use one of {', '.join(known)}")
    kit = state(ctx).kit()
    with progress(output) as drawn:
        stages = Stages(drawn, REPORT_STAGES + find_weak_slices)
        result = build_report(
            kit,
            watched_model(kit, model),
            window=Window.last(window, _end(end)),
            slices=slices or ["hour_of_day"],
            task="classification" if task == "classification" else "regression",
            time_column=time_column,
            labels=Labels(
                positive_label,
                DEFAULT_MIN_LABEL_SHARE if min_label_share is None else min_label_share,
            ),
            progress=stages,
        )
        if find_weak_slices:
            search_weak_slices(kit, result, min_count, stages)
    findings = report_findings(result)
    if html is not None:
        write_html(result, html, findings=findings)
    layout = Layout(shown, intervals, all_slices)
    print_result(output, result.to_dict(), lambda: _print(result, [], layout), findings)


def _print_check(result: MonitoringReport, outcome: CheckResult, spec: MonitoringSpec) -> None:
    """The report, then what the check found: warnings, waiting thresholds, violations."""
    _print(result, outcome.violations, Layout())
    if result.labelled < spec.min_samples:
        console.print(
            f"[yellow]note:[/yellow] {result.labelled} labelled predictions, fewer than "
            f"min_samples={spec.min_samples}: the metrics were not judged"
        )
    for warning in outcome.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    for waiting in outcome.pending:
        console.print(f"[yellow]pending:[/yellow] {waiting}", highlight=False)
    for violation in outcome.violations:
        console.print(f"[bold red]violation:[/bold red] {violation}")
        for line in violation.evidence:
            console.print(f"  {line}", highlight=False)
    _print_loop(outcome)
    verdict = {
        "passed": "[green]passed[/green]",
        "pending": f"[yellow]pending[/yellow] ({len(outcome.pending)} thresholds await labels)",
        "failed": "[bold red]FAILED[/bold red]",
    }[outcome.status]
    console.print(f"check run {outcome.run_id}: {verdict}")


@app.command()
def check(
    ctx: typer.Context,
    model: Annotated[
        str | None, typer.Argument(help="Model version (default: 'model' in the spec).")
    ] = None,
    spec_file: SpecFile = Path("monitoring.yaml"),
    end: End = None,
    retrain: Annotated[
        bool, typer.Option(help="Send a retraining request when a violation asks for one.")
    ] = True,
    output: FormatOption = OutputFormat.table,
    html: HtmlPage = None,
) -> None:
    """Judge MODEL against the spec, store the run, act on its triggers; exit 1 on a violation.

    A metric whose slice has too few labels yet (min_label_share) is pending, not passed.
    Retraining runs start under the spec's guards, once per cause; the spec's notification
    channels receive what happened. This is what `monitor schedule` runs.
    """
    import os

    from mlops_kit.errors import ConfigError
    from mlops_kit.monitoring import MonitoringSpec
    from mlops_kit.monitoring.check import check_model
    from mlops_kit.monitoring.diagnosis import report_findings
    from mlops_kit.monitoring.html import write_html

    spec = MonitoringSpec.load(spec_file)
    ref = model or spec.model
    if ref is None:
        raise ConfigError(f"no model to check: pass NAME@VERSION or set 'model' in {spec_file}")
    kit = state(ctx).kit()
    with progress(output) as shown:
        result, outcome = check_model(
            kit, spec, ref, end=_end(end), retrain=retrain, environ=os.environ, progress=shown
        )
    findings = report_findings(result, outcome.violations)
    if html is not None:
        write_html(result, html, outcome.violations, findings)

    print_result(
        output,
        {"report": result.to_dict(), "check": outcome.to_dict()},
        lambda: _print_check(result, outcome, spec),
        findings,
    )
    if not outcome.passed:
        raise typer.Exit(1)


@app.command()
def schedule(
    ctx: typer.Context,
    cron: Annotated[
        str, typer.Option(help="When to check: five cron fields in UTC ('0 6 * * *': daily 06:00).")
    ],
    spec_file: SpecFile = Path("monitoring.yaml"),
    env: EnvOption = None,
) -> None:
    """Make `monitor check` a recurring job of the environment's orchestrator.

    Kubeflow Pipelines gets a recurring run and Vertex AI a schedule of a one-step monitoring
    pipeline; the local twin has no scheduler, so this prints the line to put in cron or CI.
    """
    from mlops_kit.monitoring import MonitoringSpec
    from mlops_kit.orchestrators import check_cron
    from mlops_kit.pipelines.monitoring import CronLine, schedule_monitoring
    from mlops_kit.pipelines.project import PipelineProject

    check_cron(cron)
    spec = MonitoringSpec.load(spec_file)
    kit = kit_for(ctx, env)
    created = schedule_monitoring(kit, PipelineProject.discover(), spec, spec_file, cron)
    if isinstance(created, CronLine):
        console.print(
            f"{kit.environment.name} ({kit.environment.orchestrator}) cannot schedule: run the "
            "check from cron (crontab -e) or a CI schedule with this line:",
            highlight=False,
        )
        print(created.line)  # unstyled, to copy as it is
        return
    console.print(
        f"schedule {created.name} ({created.cron}) created: {created.url or created.schedule_id}",
        highlight=False,
        soft_wrap=True,
    )
