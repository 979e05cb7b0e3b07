"""``mlops-kit infra``: the reviewers' offline audit, the raw inventory and the plan export.

The Pulumi program is not part of the kit (``infra`` and ``mlops_kit`` are independent): these
commands find the Pulumi project, run one of its modules with this interpreter in a subprocess, and
relay its output and exit status. Nothing reaches the cloud: the program is evaluated under mocks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from enum import StrEnum
from importlib.util import find_spec
from pathlib import Path
from typing import Annotated

import typer

from mlops_kit.cli.output import console
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


class ExportFormat(StrEnum):
    """Formats of ``infra export``."""

    terraform_plan = "terraform-plan"


ProjectDir = Annotated[
    Path | None,
    typer.Option(
        "--project-dir",
        help="The Pulumi project (directory of Pulumi.yaml); default: found from here upwards.",
    ),
]

Stack = Annotated[str | None, typer.Option("--env", "-e", help="Environment (stack).")]
"""The environment whose stack a command reads; default: the global ``--env``."""


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


def _stack(ctx: typer.Context, env: str | None, project_dir: Path | None) -> tuple[Path, str]:
    """The Pulumi project, and the environment given to the command or the global ``--env``.

    Raises:
        ConfigError: no Pulumi project, or no environment given.
        NotFoundError: the environment has no stack file in the project.
    """
    project = find_pulumi_project(project_dir)
    name = env or state(ctx).env
    if name is None:
        from mlops_kit.errors import ConfigError

        raise ConfigError("give the environment: --env dev|staging|prod")
    _check_environment(project, name)
    return project, name


def _run_infra_module(project: Path, module: str, args: list[str]) -> str:
    """Run ``python -m MODULE ARGS`` of the Pulumi project; its stdout, errors relayed."""
    from mlops_kit.errors import MissingDependencyError

    for package in ("pulumi", "pulumi_gcp", "pulumi_kubernetes"):
        if find_spec(package) is None:
            raise MissingDependencyError.for_module(package, "infra", "the infrastructure audit")
    environ = {
        # The audit's tables are as wide as this command's own output (output.PIPED_WIDTH
        # without a terminal).
        "COLUMNS": str(console.width),
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(project), os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(
        [sys.executable, "-m", module, *args, "--project-dir", str(project)],
        cwd=project,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == 2 and result.stderr.startswith("error: "):
        from mlops_kit.errors import ConfigError

        raise ConfigError(result.stderr.strip().splitlines()[-1].removeprefix("error: "))
    if result.stderr:
        sys.stderr.write(result.stderr)
    if result.returncode:
        # The audit's report comes with its exit status 1 (violations): show it before exiting.
        sys.stdout.write(result.stdout)
        raise typer.Exit(result.returncode)
    return result.stdout


def _relay(project: Path, module: str, args: list[str]) -> None:
    """Run ``python -m MODULE ARGS`` of the Pulumi project and print what it prints."""
    sys.stdout.write(_run_infra_module(project, module, args))
    sys.stdout.flush()


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
    costs: Annotated[
        bool,
        typer.Option("--costs", help="Print the environment's monthly cost drivers instead."),
    ] = False,
    project_dir: ProjectDir = None,
) -> None:
    """Inventory, CIS policy results and IAM grants of an environment; exit 1 on violations."""
    if diff is not None:
        project = find_pulumi_project(project_dir)
        if costs:
            from mlops_kit.errors import ConfigError

            raise ConfigError("--costs describes one environment: give --env ENV, not --diff")
        for side in diff:
            _check_environment(project, side)
        _relay(project, "infra.audit", ["audit", "--diff", *diff, "--format", output.value])
        return
    project, name = _stack(ctx, env, project_dir)
    module, command = ("infra.costs", []) if costs else ("infra.audit", ["audit"])
    _relay(project, module, [*command, "--env", name, "--format", output.value])


@app.command("inventory")
def inventory(
    ctx: typer.Context,
    env: Stack = None,
    output: Annotated[
        InventoryFormat, typer.Option("--format", help="json")
    ] = InventoryFormat.json,
    project_dir: ProjectDir = None,
) -> None:
    """Every resource's type, name and inputs (pulumi-gcp snake_case, secrets redacted) as JSON."""
    project, name = _stack(ctx, env, project_dir)
    _relay(project, "infra.audit", ["inventory", "--env", name, "--format", output.value])


@app.command("export")
def export(
    ctx: typer.Context,
    env: Stack = None,
    output: Annotated[
        ExportFormat,
        typer.Option("--format", help="terraform-plan: the JSON `terraform show -json` prints."),
    ] = ExportFormat.terraform_plan,
    to_file: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to FILE instead of stdout.")
    ] = None,
    project_dir: ProjectDir = None,
) -> None:
    """The environment as a Terraform plan, for checkov, Trivy, conftest and Infracost."""
    from mlops_kit.errors import ConfigError

    project, name = _stack(ctx, env, project_dir)
    if to_file is not None and not to_file.parent.is_dir():
        raise ConfigError(f"cannot write {to_file}: no directory {to_file.parent}; create it first")
    plan = _run_infra_module(project, "infra.terraform_plan", ["--env", name])
    if to_file is None:
        sys.stdout.write(plan)
        return
    to_file.write_text(plan, encoding="utf-8")
    count = len(json.loads(plan)["resource_changes"])
    typer.echo(f"Wrote {to_file}: the {name} stack as a Terraform plan of {count} resources.")
