"""``mlops-kit new``, ``update`` and ``quickstart``: projects from templates."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from mlops_kit.cli.options import EnvOption
from mlops_kit.cli.output import console
from mlops_kit.cli.state import kit_for, state
from mlops_kit.errors import ConfigError


def _parse_data(pairs: list[str]) -> dict[str, str]:
    data: dict[str, str] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key.strip():
            raise ConfigError(
                f"malformed --data {pair!r}: use KEY=VALUE, e.g. --data target=churned"
            )
        data[key.strip()] = value
    return data


def new(
    ctx: typer.Context,
    directory: Annotated[
        Path, typer.Argument(help="The new project's directory (its name names the project).")
    ],
    env: EnvOption = None,
    template: Annotated[str, typer.Option(help="Template name.")] = "churn",
    data: Annotated[
        list[str] | None,
        typer.Option("--data", "-d", help="Answer a template question: KEY=VALUE."),
    ] = None,
) -> None:
    """Create a project from a template, wired to the environment (--env)."""
    from mlops_kit.scaffold import new_project

    answers = _parse_data(data or [])
    state(ctx).refuse_change(f"create the project {directory}")
    environment = kit_for(ctx, env).environment
    created = new_project(directory, environment, template, answers)
    console.print(
        f"created [bold]{created.path}[/bold] from template {created.template} {created.version}, "
        f"wired to environment {environment.name}"
        + (" (committed to a new git repository)" if created.committed else "")
    )
    console.print(
        f"next: cd {directory} && pip install -e '.[dev]' && mlops-kit pipeline run",
        markup=False,
        soft_wrap=True,
    )


def update(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="The project to update.")] = Path(),
) -> None:
    """Merge the newest template version into a project (review and commit the result)."""
    from mlops_kit.scaffold import update_project

    state(ctx).refuse_change(f"merge the newest template version into {directory}")
    before, after = update_project(directory.resolve())
    if before == after:
        console.print(f"{directory} is already on the newest template version {after}")
        return
    console.print(
        f"updated {directory} from template version {before} to {after}: review with "
        "`git diff`, resolve conflict markers if any, then commit"
    )


def quickstart(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Where to create the demo project.")] = Path(
        "mlops-quickstart"
    ),
    rows: Annotated[int, typer.Option(help="Rows of generated demo data.", min=200)] = 5000,
) -> None:
    """Create a demo project on the local twin, run its pipeline end to end, show what exists."""
    from mlops_kit.cli.pipeline import report_run, task_events
    from mlops_kit.cli.progress import progress
    from mlops_kit.scaffold.quickstart import quickstart_project, serve_demo_traffic

    state(ctx).refuse_change(f"create the demo project {directory} and run its pipeline")
    console.print(f"[bold]1/3[/bold] creating the demo project {directory} (local twin, demo data)")
    with quickstart_project(directory.resolve(), rows) as (kit, project):
        console.print("[bold]2/3[/bold] running its training pipeline with kfp.local")
        with progress() as shown:
            run = project.submit(kit, on_task=task_events(shown))
        report_run(kit, run)
        console.print(
            f"[bold]3/3[/bold] serving the champion to {rows} new demo customers over the last day "
            "over HTTP with `mlops-kit serve` (predictions and their outcomes logged)"
        )
        champion = serve_demo_traffic(kit, project, rows)
        config = project.config(kit.environment.name)
    console.print(
        f"\nserve it yourself: mlops-kit serve {config.model_name}@champion "
        "(then POST /predict, GET /metrics)",
        markup=False,
    )
    console.print("next, in the project directory:")
    commands = Path(sys.executable).parent
    if shutil.which("mlops-kit") is None and (commands / "mlops-kit").exists():
        # The README's quick start installs into a virtual environment it does not activate.
        console.print(
            f"  (first put mlops-kit on PATH: source {commands / 'activate'})", markup=False
        )
    steps = [
        (f"cd {directory}", ""),
        (f"mlops-kit models versions {config.model_name}", "versions, metrics and aliases"),
        (f"mlops-kit models show {config.model_name}@champion", "the champion and its lineage"),
        (f"mlops-kit data versions {config.dataset}", "data versions"),
        (
            f"mlops-kit monitor report {champion} --slice hour_of_day --slice contract",
            "how the champion does on its traffic, by hour and contract",
        ),
        (
            "mlops-kit monitor check",
            "the checks of monitoring.yaml (exit 1 and retrain on a violation)",
        ),
        ("mlops-kit pipeline runs", "runs and their state"),
        ("mlops-kit pipeline run", "run again: a model that is not better is not promoted"),
    ]
    width = max(len(command) for command, _ in steps) + 2
    for command, what in steps:
        console.print(f"  {command:<{width}}{what}", soft_wrap=True, markup=False)
