"""``mlops-kit env``: list, show and import environments."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlops_kit.cli.options import EnvironmentName
from mlops_kit.cli.output import FormatOption, OutputFormat, console, print_result, table
from mlops_kit.cli.state import state

app = typer.Typer(help="List, show and import environments.", no_args_is_help=True)


@app.command("list")
def list_environments(
    ctx: typer.Context,
    output: FormatOption = OutputFormat.table,
) -> None:
    """List the known environments: the local twin and every imported one."""
    from mlops_kit.environments import Workspace

    workspace = Workspace.discover()
    selected = workspace.selected_name(state(ctx).env)
    names = workspace.environment_names()
    rows = [
        (("* " if name == selected else "  ") + name, workspace.environment_file(name))
        for name in names
    ]
    title = f"environments in {workspace.environments_dir}"
    print_result(
        output,
        [{"name": name, "selected": name == selected} for name in names],
        lambda: console.print(table(title, ["name", "file"], rows)),
    )


@app.command("show")
def show(
    ctx: typer.Context,
    name: EnvironmentName = None,
    output: FormatOption = OutputFormat.table,
) -> None:
    """Show an environment's resolved settings (secrets redacted)."""
    environment = state(ctx).environment(name)
    data = environment.redacted()
    rows = [(key, value) for key, value in data.items() if value not in (None, {}, [])]
    title = f"environment {environment.name}"
    print_result(output, data, lambda: console.print(table(title, ["setting", "value"], rows)))


@app.command("import")
def import_(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Environment name, usually the Pulumi stack name.")],
    outputs: Annotated[
        Path,
        typer.Option("--from", help="JSON written by `pulumi stack output --json`."),
    ],
) -> None:
    """Write or update environments/NAME.yaml from the outputs of a Pulumi stack."""
    from mlops_kit.environments import Workspace, import_environment

    state(ctx).refuse_change(f"write environment {name!r} from {outputs}")
    path = import_environment(name, outputs, Workspace.discover())
    console.print(f"wrote environment [bold]{name}[/bold] to {path}")


@app.command("publish-kit")
def publish_kit(
    ctx: typer.Context,
    name: EnvironmentName = None,
    wheel: Annotated[
        Path | None,
        typer.Option(help="The wheel to publish; default: build one from this source checkout."),
    ] = None,
) -> None:
    """Publish the kit's wheel to an environment's Python repository, where its projects get it."""
    from mlops_kit.errors import ConfigError, shorten
    from mlops_kit.packages import publish_kit as publish

    environment = state(ctx).environment(name)
    if not environment.kit_index:
        raise ConfigError(
            f"environment {environment.name!r} has no kit_index: import it again from stack "
            "outputs that include the kit's Python repository"
        )
    state(ctx).refuse_change(f"publish the kit to {shorten(environment.kit_index)}")
    published, url = publish(environment.kit_index, wheel)
    console.print(f"published {published.name} {published.version} to {url}")
