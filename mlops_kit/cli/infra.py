"""``mlops-kit infra``: the reviewers' offline audit and the raw inventory of an environment.

The Pulumi program is not part of the kit (``infra`` and ``mlops_kit`` are independent): these
commands find the Pulumi project, run its audit module with this interpreter in a subprocess, and
relay its output and exit status. Nothing reaches the cloud: the program is evaluated under mocks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from enum import StrEnum
from importlib.util import find_spec
from pathlib import Path
from typing import Annotated

import typer

from mlops_kit.cli.state import state

app = typer.Typer(
    help="Audit the infrastructure code offline (no Pulumi CLI, credentials or network).",
    no_args_is_help=True,
)


class AuditFormat(StrEnum):
    """Output formats of ``infra audit``."""

    table = "table"
    json = "json"
    markdown = "markdown"


class InventoryFormat(StrEnum):
    """Output formats of ``infra inventory``."""

    json = "json"


ProjectDir = Annotated[
    Path | None,
    typer.Option(
        "--project-dir",
        help="The Pulumi project (directory of Pulumi.yaml); default: found from here upwards.",
    ),
]


def find_pulumi_project(start: Path | None) -> Path:
    """The directory holding ``Pulumi.yaml``: ``start`` itself if given, else the nearest upwards.

    Raises:
        ConfigError: no Pulumi project there.
    """
    from mlops_kit.errors import ConfigError

    if start is not None:
        if not (start / "Pulumi.yaml").is_file():
            raise ConfigError(f"no Pulumi.yaml in --project-dir {start}: point it at the project")
        return start.resolve()
    here = Path.cwd().resolve()
    for directory in (here, *here.parents):
        if (directory / "Pulumi.yaml").is_file():
            return directory
    raise ConfigError(
        f"no Pulumi project (Pulumi.yaml) in {here} or its parents: run from the mlops-kit "
        "repository or pass --project-dir"
    )


def _check_environment(project: Path, name: str) -> None:
    from mlops_kit.errors import NotFoundError

    stack_files = sorted((project / "environments").glob("Pulumi.*.yaml"))
    known = [p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in stack_files]
    if name not in known:
        raise NotFoundError(
            f"unknown environment {name!r}: no environments/Pulumi.{name}.yaml in {project}; "
            f"known: {', '.join(known) or 'none'}"
        )


def _environment(ctx: typer.Context, env: str | None, project: Path) -> str:
    """The environment given to the command, or the global ``--env``; it must have a stack file."""
    name = env or state(ctx).env
    if name is None:
        from mlops_kit.errors import ConfigError

        raise ConfigError("give the environment: --env dev|staging|prod")
    _check_environment(project, name)
    return name


def _run_audit_module(project: Path, args: list[str]) -> None:
    from mlops_kit.errors import MissingDependencyError

    for module in ("pulumi", "pulumi_gcp", "pulumi_kubernetes"):
        if find_spec(module) is None:
            raise MissingDependencyError.for_module(module, "infra", "the infrastructure audit")
    environ = {
        # The audit's tables are as wide as the terminal the command was started in.
        "COLUMNS": str(shutil.get_terminal_size().columns),
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(project), os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(
        [sys.executable, "-m", "infra.audit", *args, "--project-dir", str(project)],
        cwd=project,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    sys.stdout.write(result.stdout)
    sys.stdout.flush()
    if result.returncode == 2 and result.stderr.startswith("error: "):
        from mlops_kit.errors import ConfigError

        raise ConfigError(result.stderr.strip().splitlines()[-1].removeprefix("error: "))
    if result.stderr:
        sys.stderr.write(result.stderr)
    if result.returncode:
        raise typer.Exit(result.returncode)


@app.command("audit")
def audit(
    ctx: typer.Context,
    env: Annotated[
        str | None, typer.Option("--env", "-e", help="Environment (stack) to audit.")
    ] = None,
    diff: Annotated[
        tuple[str, str] | None,
        typer.Option("--diff", help="Show the settings that differ between two environments."),
    ] = None,
    output: Annotated[
        AuditFormat, typer.Option("--format", help="table, json or markdown (for CI artifacts).")
    ] = AuditFormat.table,
    project_dir: ProjectDir = None,
) -> None:
    """Inventory, CIS policy results and IAM grants of an environment; exit 1 on violations."""
    project = find_pulumi_project(project_dir)
    if diff is not None:
        for side in diff:
            _check_environment(project, side)
        _run_audit_module(project, ["audit", "--diff", *diff, "--format", output.value])
        return
    name = _environment(ctx, env, project)
    _run_audit_module(project, ["audit", "--env", name, "--format", output.value])


@app.command("inventory")
def inventory(
    ctx: typer.Context,
    env: Annotated[str | None, typer.Option("--env", "-e", help="Environment (stack).")] = None,
    output: Annotated[
        InventoryFormat, typer.Option("--format", help="json")
    ] = InventoryFormat.json,
    project_dir: ProjectDir = None,
) -> None:
    """Every resource's type, name and inputs (pulumi-gcp snake_case, secrets redacted) as JSON."""
    project = find_pulumi_project(project_dir)
    name = _environment(ctx, env, project)
    _run_audit_module(project, ["inventory", "--env", name, "--format", output.value])
