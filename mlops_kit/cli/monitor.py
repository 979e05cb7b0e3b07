"""``mlops-kit monitor``: sliced metrics, drift and data health of a deployed model version."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlops_kit.cli.output import FormatOption, OutputFormat, console, print_result, table
from mlops_kit.cli.state import state

if TYPE_CHECKING:
    from mlops_kit.monitoring import MonitoringReport, Violation

app = typer.Typer(
    help="Monitor model versions: sliced metrics, drift, health, checks.", no_args_is_help=True
)

_END = typer.Option(help="End of the window, ISO 8601 with timezone (default: now).")


def _end(text: str | None) -> datetime | None:
    from mlops_kit.errors import ConfigError

    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ConfigError(
            f"invalid --end {text!r}: use ISO 8601 with a timezone (2026-11-20T00:00Z)"
        )
    return moment


def _print(report: MonitoringReport, violations: list[Violation]) -> None:
    from mlops_kit.monitoring.metrics import OVERALL

    broken = {v.subject for v in violations}
    console.print(
        f"[bold]{report.model.ref}[/bold]  {report.window_start:%Y-%m-%d %H:%M} – "
        f"{report.window_end:%Y-%m-%d %H:%M} UTC  logged {report.logged}, labelled {report.labelled}"
    )
    for note in report.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    if report.slices:
        names = list(report.slices[0].metrics)
        rows = []
        for part in report.slices:
            subject = OVERALL if part.column == OVERALL else f"{part.column}={part.value}"
            cells = []
            for name in names:
                e = part.metrics[name]
                text = "" if e.value is None else f"{e.value:.3f}"
                if e.lower is not None and e.upper is not None:
                    text += f" [{e.lower:.2f}-{e.upper:.2f}]"
                if name in part.baseline:
                    text += f" ({part.baseline[name]:.2f})"
                cells.append(text)
            mark = "[bold red]![/bold red]" if subject in broken else ""
            rows.append([f"{subject} {mark}", part.count, *cells])
        console.print(table("Metrics [95 % interval] (baseline)", ["slice", "count", *names], rows))
    for column, entries in report.coverage.items():
        console.print(
            table(
                f"Coverage by {column}",
                [column, "live", "live share", "training", "training share"],
                [
                    [
                        e["value"],
                        e["live"],
                        f"{e['live_share']:.3f}",
                        "" if e["training"] is None else e["training"],
                        "" if e["training_share"] is None else f"{e['training_share']:.3f}",
                    ]
                    for e in entries
                ],
            )
        )
    if report.drift:
        console.print(
            table(
                "Drift against the training data",
                ["feature", "test", "psi", "ks", "js"],
                [
                    [n, d["test"], *(f"{d[k]:.4f}" if k in d else "" for k in ("psi", "ks", "js"))]
                    for n, d in sorted(report.drift.items())
                ],
            )
        )
    if report.health:
        console.print(
            table(
                "Data health",
                ["feature", "null rate", "empty", "constant", "nonconforming", "out of range"],
                [
                    [
                        n,
                        f"{h['null_rate']:.3f}",
                        h["empty"],
                        h["constant"],
                        h["nonconforming"],
                        f"{h['out_of_range_rate']:.3f}",
                    ]
                    for n, h in sorted(report.health.items())
                ],
            )
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
        str, typer.Option(help="Label of the positive class; every other label is negative.")
    ] = "1",
    time_column: Annotated[
        str | None, typer.Option(help="Timestamp column of the training data for coverage.")
    ] = None,
    end: Annotated[str | None, _END] = None,
    output: FormatOption = OutputFormat.table,
    html: Annotated[Path | None, typer.Option(help="Also write an offline HTML page here.")] = None,
) -> None:
    """Sliced metrics with intervals, coverage, drift and data health of MODEL's predictions."""
    from mlops_kit.errors import ConfigError
    from mlops_kit.monitoring import build_report, watched_model
    from mlops_kit.monitoring.html import write_html
    from mlops_kit.monitoring.spec import window_hours

    if task not in ("classification", "regression"):
        raise ConfigError(f"invalid --task {task!r}: use classification or regression")
    kit = state(ctx).kit()
    result = build_report(
        kit,
        watched_model(kit, model),
        slices=slices or ["hour_of_day"],
        window=timedelta(hours=window_hours(window)),
        end=_end(end),
        task="classification" if task == "classification" else "regression",
        positive_label=positive_label,
        time_column=time_column,
    )
    if html is not None:
        write_html(result, html)
    print_result(output, result.to_dict(), lambda: _print(result, []))


@app.command()
def check(
    ctx: typer.Context,
    model: Annotated[
        str | None, typer.Argument(help="Model version (default: 'model' in the spec).")
    ] = None,
    spec_file: Annotated[Path, typer.Option("--spec", help="The monitoring spec (YAML).")] = Path(
        "monitoring.yaml"
    ),
    end: Annotated[str | None, _END] = None,
    retrain: Annotated[
        bool, typer.Option(help="Send a retraining request when a violation asks for one.")
    ] = True,
    output: FormatOption = OutputFormat.table,
    html: Annotated[Path | None, typer.Option(help="Also write an offline HTML page here.")] = None,
) -> None:
    """Judge MODEL against the spec, store the run; exit 1 when a threshold is broken."""
    from mlops_kit.errors import ConfigError
    from mlops_kit.monitoring import MonitoringSpec, build_report, run_check, watched_model
    from mlops_kit.monitoring.html import write_html
    from mlops_kit.monitoring.spec import window_hours

    spec = MonitoringSpec.load(spec_file)
    ref = model or spec.model
    if ref is None:
        raise ConfigError(f"no model to check: pass NAME@VERSION or set 'model' in {spec_file}")
    kit = state(ctx).kit()
    result = build_report(
        kit,
        watched_model(kit, ref),
        slices=spec.slices,
        window=timedelta(hours=window_hours(spec.window)),
        end=_end(end),
        task=spec.task,
        positive_label=spec.positive_label,
        time_column=spec.time_column,
    )
    outcome = run_check(kit, result, spec, retrain=retrain)
    if html is not None:
        write_html(result, html, outcome.violations)

    def for_people() -> None:
        _print(result, outcome.violations)
        if result.labelled < spec.min_samples:
            console.print(
                f"[yellow]note:[/yellow] {result.labelled} labelled predictions, fewer than "
                f"min_samples={spec.min_samples}: the metrics were not judged"
            )
        for warning in outcome.warnings:
            console.print(f"[yellow]warning:[/yellow] {warning}")
        for violation in outcome.violations:
            console.print(f"[bold red]violation:[/bold red] {violation}")
        if outcome.retraining_handler:
            console.print(
                f"retraining requested through {outcome.retraining_handler!r}: "
                f"{outcome.retraining_result}"
            )
        verdict = "[green]passed[/green]" if outcome.passed else "[bold red]FAILED[/bold red]"
        console.print(f"check run {outcome.run_id}: {verdict}")

    print_result(output, {"report": result.to_dict(), "check": outcome.to_dict()}, for_people)
    if not outcome.passed:
        raise typer.Exit(1)
