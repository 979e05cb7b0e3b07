"""``mlops-kit models``: register, inspect, promote, roll back and compare model versions."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlops_kit import provenance
from mlops_kit.cli.options import ModelName, ModelRef, Reason
from mlops_kit.cli.output import FormatOption, OutputFormat, console, print_result, table
from mlops_kit.cli.progress import progress
from mlops_kit.cli.state import state
from mlops_kit.errors import ConfigError
from mlops_kit.limits import check_hours

if TYPE_CHECKING:
    from mlops_kit.models import AliasEvent, ModelComparison, ModelVersion, ModelVersionSummary

app = typer.Typer(
    help="Register, promote, roll back and compare model versions.", no_args_is_help=True
)


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for value in values or []:
        key, separator, text = value.partition("=")
        if not separator or not key.strip():
            raise ConfigError(f"{option} {value!r} is not KEY=VALUE: write it like {option} lr=0.1")
        if key.strip() in result:
            raise ConfigError(f"{option} {key.strip()!r} is given twice: give each key once")
        result[key.strip()] = text
    return result


def _print_version(version: ModelVersion) -> None:
    rows: list[tuple[str, object]] = [
        ("version", version.ref),
        ("status", version.status.upper()),
        ("aliases", ", ".join(version.aliases) or "-"),
        ("artifact", version.artifact_uri),
        ("flavor", version.flavor or "-"),
        ("created", f"{version.created_at:%Y-%m-%d %H:%M:%S} UTC by {version.created_by}"),
        ("data", ", ".join(version.datasets) or "-"),
        ("pipeline run", version.pipeline_run_id or "-"),
        ("git commit", version.git_commit or "-"),
    ]
    rows += [(f"metric {name}", value) for name, value in version.metrics.items()]
    rows += [(f"param {key}", value) for key, value in version.params.items()]
    rows += [(f"tag {key}", value) for key, value in version.tags.items()]
    for kind in ("kit", "python", "image"):
        rows += [(kind, f"{n} {v}") for n, v in version.components.get(kind, {}).items()]
    rows.append(("packages", f"{len(version.components.get('package', {}))} recorded"))
    rows += [
        (f"file {f['path']}", f"{f['size']} bytes sha256 {f['sha256'][:16]}…")
        for f in version.files
    ]
    console.print(table(f"model {version.ref}", ["field", "value"], rows))
    for column, values in version.slices.items():
        names = sorted({m for metrics in values.values() for m in metrics})
        slice_rows = [
            [value, *(metrics.get(m) for m in names)] for value, metrics in values.items()
        ]
        console.print(table(f"metrics by {column}", [column, *names], slice_rows))


def _print_events(events: list[AliasEvent], title: str) -> None:
    rows = [
        (
            f"{e.at:%Y-%m-%d %H:%M:%S}",
            e.alias,
            e.action,
            "-" if e.from_version is None else e.from_version,
            e.to_version,
            e.actor,
            e.reason,
        )
        for e in events
    ]
    console.print(table(title, ["at (UTC)", "alias", "action", "from", "to", "by", "reason"], rows))


@app.command()
def register(
    ctx: typer.Context,
    name: ModelName,
    path: Annotated[Path, typer.Argument(help="The artifact: a file or a directory.")],
    metrics: Annotated[
        Path | None, typer.Option("--metrics", help="Metrics JSON (overall and per slice).")
    ] = None,
    data: Annotated[
        list[str] | None, typer.Option("--data", help="Training data version DATASET@V (repeat).")
    ] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="KEY=VALUE (repeat).")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="KEY=VALUE (repeat).")] = None,
    pipeline_run_id: Annotated[
        str | None, typer.Option("--pipeline-run-id", help="The training pipeline run.")
    ] = None,
    image_digest: Annotated[
        str | None, typer.Option("--image-digest", help="Training container image digest.")
    ] = None,
    git_commit: Annotated[
        str | None,
        typer.Option("--git-commit", help="Commit of the training code (default: this repo's)."),
    ] = None,
    output: FormatOption = OutputFormat.table,
) -> None:
    """Upload PATH as the next version of NAME and record its lineage."""
    from mlops_kit import models

    lineage = models.Lineage(
        data=data or [],
        params=_pairs(param, "--param"),
        tags=_pairs(tag, "--tag"),
        pipeline_run_id=pipeline_run_id,
        image_digest=image_digest,
        git_commit=git_commit or provenance.git_commit(),
    )
    kit = state(ctx).kit()
    with progress(output) as shown:
        version = models.register(kit, name, path, metrics=metrics, lineage=lineage, progress=shown)
    line = f"registered {version.ref} ({len(version.files)} files) at {version.artifact_uri}"
    print_result(output, version.to_dict(), lambda: console.print(line))


@app.command()
def versions(
    ctx: typer.Context,
    name: ModelName,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many.")] = None,
    include_unready: Annotated[
        bool, typer.Option("--all", help="Also list PENDING and FAILED versions.")
    ] = False,
    output: FormatOption = OutputFormat.table,
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", help="Metric column to show (repeat; default: the first three)."),
    ] = None,
) -> None:
    """List the versions of NAME, newest first."""
    from mlops_kit import models

    found = models.list_versions(
        state(ctx).kit(), name, limit=limit, include_unready=include_unready
    )
    print_result(
        output,
        [v.to_dict() for v in found],
        lambda: _print_versions(name, found, include_unready, metric or []),
    )


_SHOWN_METRICS = 3
"""Metric columns ``models versions`` shows by default: more would cut the headers."""


def _print_versions(
    name: str, found: list[ModelVersionSummary], include_unready: bool, chosen: list[str]
) -> None:
    from mlops_kit.monitoring.metric_table import METRICS

    recorded = {m for v in found for m in v.metrics}
    # The table of metrics' order first (accuracy, precision, …), then any others by name.
    ordered = [m for m in METRICS if m in recorded] + sorted(recorded - set(METRICS))
    metric_names = chosen or ordered[:_SHOWN_METRICS]
    rows = [
        [
            v.version,
            v.status.upper(),
            ", ".join(v.aliases),
            f"{v.created_at:%Y-%m-%d %H:%M}",
            v.created_by,
            *(v.metrics.get(m) for m in metric_names),
            *([v.failure] if include_unready else []),
        ]
        for v in found
    ]
    columns = ["version", "status", "aliases", "created (UTC)", "by", *metric_names]
    columns += ["failure"] if include_unready else []
    console.print(table(f"model {name}", columns, rows))
    hidden = [m for m in ordered if m not in metric_names]
    if hidden:
        console.print(
            f"{len(hidden)} more metrics ({', '.join(hidden)}): --metric NAME or --format json",
            highlight=False,
        )


@app.command()
def show(ctx: typer.Context, ref: ModelRef, output: FormatOption = OutputFormat.table) -> None:
    """Show a version with its lineage: metrics, params, data, components, files."""
    from mlops_kit import models

    version = models.get_version(state(ctx).kit(), ref)
    print_result(output, version.to_dict(), lambda: _print_version(version))


@app.command()
def download(
    ctx: typer.Context,
    ref: ModelRef,
    destination: Annotated[Path, typer.Argument(help="A new or empty directory.")],
) -> None:
    """Download a version's artifact into DESTINATION, verifying every checksum."""
    from mlops_kit import models

    kit = state(ctx).kit()
    with progress() as shown:
        target = models.download(kit, ref, destination, shown)
    console.print(f"downloaded {ref} into {target} (checksums verified)")


def _moved(event: AliasEvent) -> str:
    """Where an alias now points, and where it pointed before."""
    source = "" if event.from_version is None else f" (was {event.from_version})"
    return f"{event.model}@{event.alias} -> version {event.to_version}{source}"


@app.command()
def promote(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME@VERSION to promote.")],
    alias: Annotated[str, typer.Option("--alias", help="Alias to move, e.g. production.")],
    reason: Reason,
) -> None:
    """Point ALIAS at a READY version (on a protected alias: ask for the promotion)."""
    from mlops_kit import models

    event = models.request_promotion(state(ctx).kit(), ref, alias, reason)
    if event.action == "request":
        console.print(
            f"{event.model}@{event.alias} is protected: version {event.to_version} awaits the "
            f"approval of someone other than {event.actor} "
            f"(`mlops-kit models approve {event.model} --alias {event.alias}`)",
            markup=False,
        )
        return
    console.print(_moved(event))


@app.command()
def approve(
    ctx: typer.Context,
    name: ModelName,
    alias: Annotated[str, typer.Option("--alias", help="The protected alias, e.g. production.")],
) -> None:
    """Approve the requested promotion of a protected ALIAS (not your own request)."""
    from mlops_kit import models

    event = models.approve(state(ctx).kit(), name, alias)
    console.print(f"{_moved(event)}, approved by {event.actor}")


@app.command()
def rollback(
    ctx: typer.Context,
    name: ModelName,
    alias: Annotated[str, typer.Option("--alias", help="Alias to move back.")],
    reason: Reason,
    to: Annotated[
        int | None, typer.Option("--to", help="An earlier holder (default: the previous one).")
    ] = None,
) -> None:
    """Move ALIAS back to its previous holder, after verifying that version's artifact."""
    from mlops_kit import models

    event = models.rollback(state(ctx).kit(), name, alias, reason=reason, to=to)
    console.print(
        f"{event.model}@{event.alias} rolled back {event.from_version} -> {event.to_version} "
        "(artifact verified)"
    )


@app.command()
def history(
    ctx: typer.Context,
    name: ModelName,
    alias: Annotated[str | None, typer.Option("--alias", help="Only this alias.")] = None,
    at: Annotated[
        datetime | None,
        typer.Option("--at", help="Print which version held --alias at this UTC time."),
    ] = None,
    output: FormatOption = OutputFormat.table,
) -> None:
    """List every alias movement: who, when, why, from -> to."""
    from mlops_kit import models
    from mlops_kit.models.lookup import as_utc

    kit = state(ctx).kit()
    if at is not None:
        if alias is None:
            raise ConfigError("--at needs --alias: say which alias to look up")
        moment = as_utc(at)
        holder = models.holder_at(kit, name, alias, moment)
        line = f"{name}@{alias} at {moment:%Y-%m-%d %H:%M:%S} UTC: {holder or 'none'}"
        print_result(
            output,
            {"model": name, "alias": alias, "at": moment.isoformat(), "version": holder},
            lambda: console.print(line),
        )
        return
    events = models.history(kit, name, alias)
    title = f"alias history of {name}" + (f"@{alias}" if alias else "")
    print_result(output, [e.to_dict() for e in events], lambda: _print_events(events, title))


@app.command()
def gc(
    ctx: typer.Context,
    grace_hours: Annotated[
        float,
        typer.Option("--grace-hours", help="Keep PENDING versions younger than this (uploads)."),
    ] = 24.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report.")] = False,
    output: FormatOption = OutputFormat.table,
) -> None:
    """Remove stale PENDING versions and artifact objects no READY version references.

    This includes the partial files (``.incoming-*``) of uploads killed mid-way, once their version
    is older than the grace period; ``--dry-run`` lists them.
    """
    from mlops_kit import models

    check_hours(grace_hours, "--grace-hours")
    report = models.collect_garbage(
        state(ctx).kit(), grace=timedelta(hours=grace_hours), dry_run=dry_run
    )

    def for_people() -> None:
        verb = "would remove" if dry_run else "removed"
        console.print(
            f"{verb} {len(report.removed_versions)} pending versions and "
            f"{len(report.removed_objects)} objects; kept {report.kept_objects} objects"
        )
        for item in [*report.removed_versions, *report.removed_objects]:
            console.print(f"  {item}", highlight=False)

    print_result(output, report.to_dict(), for_people)


@app.command()
def compare(
    ctx: typer.Context,
    a: ModelRef,
    b: ModelRef,
    on: Annotated[
        str | None,
        typer.Option("--on", help="DATASET@V: predict with both and check that data's health."),
    ] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Also write an HTML page.")] = None,
    output: FormatOption = OutputFormat.table,
) -> None:
    """Compare version a (the reference) with b: metrics, params, data, components.

    With --on, also their predictions on that data and the data's health.
    """
    from mlops_kit import models

    with progress(output) as shown:
        comparison = models.compare(state(ctx).kit(), a, b, on=on, progress=shown)
    if html is not None:
        models.comparison_page(comparison).write(html)
    print_result(
        output,
        comparison.summary,
        lambda: _print_comparison(comparison, html),
        comparison.findings,
    )


def _print_comparison(comparison: ModelComparison, html: Path | None) -> None:
    from mlops_kit import models

    summary = comparison.summary
    ref_a, ref_b = summary["a"], summary["b"]
    console.print(f"[bold]{ref_a} → {ref_b}[/bold]")
    overall = summary["metrics"]["overall"]
    console.print(
        table(
            "metrics",
            ["metric", ref_a, ref_b, "change"],
            [[n, v["a"], v["b"], v["delta"]] for n, v in overall.items()],
        )
    )
    for column, values in summary["metrics"]["slices"].items():
        rows = [
            [value, name, v["a"], v["b"], v["delta"]]
            for value, metrics in values.items()
            for name, v in metrics.items()
        ]
        console.print(
            table(f"metrics by {column}", [column, "metric", ref_a, ref_b, "change"], rows)
        )
    params = [[k, v["a"], v["b"]] for k, v in summary["params"].items() if v["a"] != v["b"]]
    if params:
        console.print(table("changed parameters", ["param", ref_a, ref_b], params))
    console.print(
        table(
            "training data",
            ["version", "datasets"],
            [[ref_a, ", ".join(summary["data"]["a"])], [ref_b, ", ".join(summary["data"]["b"])]],
        )
    )
    components = {k: v for k, v in summary["components"].items() if k != "packages"}
    changed = {**components, **summary["components"]["packages"]}
    console.print(
        table(
            "components",
            ["component", ref_a, ref_b],
            [[k, v["a"], v["b"]] for k, v in changed.items()],
        )
    )
    if summary["on"]:
        on_data = summary["on"]
        labels = sorted(set(on_data["predictions"][ref_a]) | set(on_data["predictions"][ref_b]))
        console.print(
            table(
                f"predictions on {on_data['dataset']}"
                + (
                    f" (agreement {on_data['agreement']:.1%})"
                    if on_data["agreement"] is not None
                    else ""
                ),
                ["class", ref_a, ref_b],
                [
                    [
                        x,
                        on_data["predictions"][ref_a].get(x, 0),
                        on_data["predictions"][ref_b].get(x, 0),
                    ]
                    for x in labels
                ],
            )
        )
        title, headers, rows = models.input_health(summary)
        console.print(table(title, headers, rows))
    if html is not None:
        console.print(f"wrote {html}")


@app.command()
def mirror(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME@VERSION to mirror.")],
    serving_image: Annotated[
        str | None,
        typer.Option(
            "--serving-image", help="Prediction container (default: the mirror's for the flavour)."
        ),
    ] = None,
) -> None:
    """Mirror a READY version to the environment's registry mirror (such as Vertex AI's)."""
    from mlops_kit import models

    resource = models.mirror(state(ctx).kit(), ref, serving_image=serving_image)
    console.print(f"mirrored {ref} to {resource}")
