"""``mlops-kit pipeline``: run, compile, schedule and list the project's training pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlops_kit.cli.options import EnvOption
from mlops_kit.cli.output import FormatOption, OutputFormat, console, print_result, table
from mlops_kit.cli.progress import progress
from mlops_kit.cli.state import kit_for

if TYPE_CHECKING:
    from mlops_kit.kit import Kit
    from mlops_kit.orchestrators import PipelineRun, PipelineSubmission, TaskEvent
    from mlops_kit.progress import Progress

app = typer.Typer(
    help="Run, compile, schedule and list the project's training pipeline.", no_args_is_help=True
)

ImageDigestOption = Annotated[
    str | None,
    typer.Option(
        "--image-digest",
        help="Run the tasks in the configured image by this digest (sha256:...), as CI built it "
        "(default on a cluster: the champion's recorded image).",
    ),
]


_MARKS = {"RUNNING": "[cyan]…[/cyan]", "SUCCEEDED": "[green]✓[/green]", "FAILED": "[red]✗[/red]"}


def task_events(shown: Progress) -> TaskEvent:
    """What a local run says of its tasks: the running one drawn, each finished one printed."""

    def on_task(task: str, task_state: str) -> None:
        if task_state == "RUNNING":
            shown.start(f"task {task} running")
        else:
            console.print(f"  {_MARKS.get(task_state, task_state)} {task}")

    return on_task


def raise_if_failed(run: PipelineRun) -> None:
    """Raise if ``run`` failed or was cancelled.

    Raises:
        BackendError: it did (the message names the task and its error, and the log).
    """
    from mlops_kit.errors import BackendError

    if run.state == "FAILED":
        raise BackendError(f"pipeline run {run.run_id} failed: {run.error} (log: {run.url})")
    if run.state == "CANCELLED":
        raise BackendError(f"pipeline run {run.run_id} was cancelled (log: {run.url})")


def report_run(kit: Kit, run: PipelineRun) -> None:
    """Print what a finished local run produced; raise if it failed.

    Raises:
        BackendError: the run failed (the message names the task and its error).
    """
    from rich.markup import escape

    from mlops_kit import models
    from mlops_kit.pipelines.promotion import GateDecision

    raise_if_failed(run)
    decision = GateDecision.of_run(run)
    if decision is None:
        # A cluster's run keeps its outputs there: what is known here is how it stands.
        how = "succeeded" if run.state == "SUCCEEDED" else f"submitted ({run.state})"
        console.print(f"run [bold]{run.run_id}[/bold] {how}: {run.url or ''}")
        return
    version = models.get_version(kit, decision.candidate)
    data = ", ".join(version.datasets) or "none"
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in version.metrics.items())
    console.print(f"data version   [bold]{data}[/bold]", soft_wrap=True)
    console.print(f"model version  [bold]{version.ref}[/bold]  ({metrics})", soft_wrap=True)
    reasons = escape("; ".join(decision.reasons))
    if decision.promoted:
        console.print(
            f"champion       [bold green]{version.ref}[/bold green]  ({reasons})", soft_wrap=True
        )
    else:
        console.print(
            f"champion       [bold]{decision.champion}[/bold] stays; "
            f"{version.ref} [bold red]not promoted[/bold red]: {reasons}",
            soft_wrap=True,
        )
    console.print(f"log            {run.url}", soft_wrap=True, markup=False)


def run_json(
    kit: Kit, submission: PipelineSubmission, run: PipelineRun, tasks: Mapping[str, str]
) -> dict[str, Any]:
    """What ``pipeline run --format json`` prints: the run as ``pipeline runs`` lists it, and more.

    Args:
        kit: where it was submitted.
        submission: what was submitted (the pipeline's name, its file and its parameters).
        run: the run as it stands (submitted, or as it ended).
        tasks: task states a local run reported as it ran (cluster runs report theirs when
            polled, in ``run.tasks``).
    """
    from dataclasses import asdict

    from mlops_kit.backends import redact_secrets
    from mlops_kit.pipelines.promotion import GateDecision

    decision = GateDecision.of_run(run)
    duration = None
    if run.created_at is not None and run.finished_at is not None:
        duration = (run.finished_at - run.created_at).total_seconds()
    return asdict(run) | {
        "pipeline": submission.run_name,
        "package": str(submission.package),
        "environment": kit.environment.name,
        # As `env show` prints it: a URI may carry a credential.
        "orchestrator": redact_secrets(kit.environment.orchestrator),
        "parameters": dict(submission.arguments),
        "tasks": {**tasks, **run.tasks},
        "duration_seconds": duration,
        "gate": decision.to_dict() if decision else None,
    }


@app.command("run")
def run(
    ctx: typer.Context,
    env: EnvOption = None,
    image_digest: ImageDigestOption = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="On a cluster, follow the run until it ends (its tasks shown on a terminal); "
            "exit non-zero unless it succeeds. Local runs always end before the command.",
        ),
    ] = False,
    timeout: Annotated[
        float,
        typer.Option(help="With --wait, give up following after this many seconds.", min=0),
    ] = 3 * 3600,
    interval: Annotated[
        float, typer.Option(help="With --wait, seconds between two looks at the run.", min=0.01)
    ] = 10,
    output: FormatOption = OutputFormat.table,
) -> None:
    """Run the training pipeline: locally with kfp.local, or submitted to the environment's cluster.

    With --format json, stdout is one JSON object: the run (id, state, url, times, tasks, gate
    decision) with the pipeline, environment, orchestrator and parameters it was submitted with.
    """
    from mlops_kit.orchestrators import ENDED_STATES
    from mlops_kit.pipelines.project import PipelineProject

    kit = kit_for(ctx, env)
    project = PipelineProject.discover()
    if output is OutputFormat.table:
        where = "locally" if kit.orchestrator.runs_here else "to " + kit.environment.name
        console.print(f"running the training pipeline {where} ({kit.environment.name})")
    # A local run tells its tasks as they end: drawn and printed for people, kept for machines.
    tasks: dict[str, str] = {}
    with progress(output) as shown:
        submission = project.submission(kit, image_digest=image_digest)
        on_task = task_events(shown) if output is OutputFormat.table else tasks.__setitem__
        result = kit.orchestrator.submit(submission, on_task)
        if wait and result.state not in ENDED_STATES:
            result = project.follow(kit, result, timeout=timeout, interval=interval, progress=shown)
    print_result(output, run_json(kit, submission, result, tasks), lambda: report_run(kit, result))
    # For people, report_run raised already; a program gets the JSON of a failed run, then this.
    raise_if_failed(result)


@app.command("compile")
def compile_(
    ctx: typer.Context,
    env: EnvOption = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="YAML file (default: build/pipeline-ENV.yaml)."),
    ] = None,
    image_digest: ImageDigestOption = None,
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """Compile the training pipeline for the environment to KFP v2 YAML."""
    from mlops_kit.pipelines.project import PipelineProject

    environment = kit_for(ctx, env).environment
    path = PipelineProject.discover().compile(environment, output, image_digest)
    print_result(
        output_format,
        {"environment": environment.name, "package": str(path)},
        lambda: console.print(f"compiled for {environment.name}: {path}"),
    )


@app.command("schedule")
def schedule(
    ctx: typer.Context,
    env: EnvOption = None,
    cron: Annotated[
        str | None, typer.Option(help="Cron expression in UTC (default: 'schedule' of the config).")
    ] = None,
    image_digest: ImageDigestOption = None,
    output: FormatOption = OutputFormat.table,
) -> None:
    """Create a recurring run of the training pipeline (KFP recurring run or Vertex AI schedule).

    Its runs use the image named by --image-digest, else by the config's pinned image, else the
    champion's recorded image.
    """
    from dataclasses import asdict

    from mlops_kit.pipelines.project import PipelineProject

    kit = kit_for(ctx, env)
    created = PipelineProject.discover().schedule(kit, cron, image_digest)
    print_result(
        output,
        asdict(created) | {"environment": kit.environment.name},
        lambda: console.print(
            f"schedule {created.name} ({created.cron}) created: "
            f"{created.url or created.schedule_id}"
        ),
    )


@app.command("runs")
def runs(
    ctx: typer.Context,
    env: EnvOption = None,
    limit: Annotated[int, typer.Option(help="How many runs.", min=1)] = 20,
    output: FormatOption = OutputFormat.table,
) -> None:
    """List recent runs of the environment's orchestrator with their state."""
    from dataclasses import asdict

    from mlops_kit.pipelines.project import PipelineProject

    kit = kit_for(ctx, env)
    found = PipelineProject.discover().runs(kit, limit)
    rows = [
        (
            r.run_id,
            r.state,
            f"{r.created_at:%Y-%m-%d %H:%M:%S}" if r.created_at else "",
            r.error or "",
        )
        for r in found
    ]
    title = f"runs in {kit.environment.name}"
    print_result(
        output,
        [asdict(r) for r in found],
        lambda: console.print(table(title, ["run", "state", "created", "error"], rows)),
    )
