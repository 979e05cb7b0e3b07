"""The ``mlops-kit`` command line: parse, call the library, print.

Command modules import the library inside their functions, so ``mlops-kit --help`` never pays for
SQLAlchemy, DuckDB or a cloud SDK.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.markup import escape

from mlops_kit import __version__
from mlops_kit.backends import redact_secrets
from mlops_kit.cli import (
    data,
    db,
    deploy,
    doctor,
    env,
    infra,
    models,
    monitor,
    pipeline,
    project,
    serve,
)
from mlops_kit.cli.output import err_console
from mlops_kit.cli.state import CliState
from mlops_kit.errors import MlopsKitError, shorten

app = typer.Typer(
    name="mlops-kit",
    help="Data versioning, model versioning, monitoring and continuous training on Google Cloud.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(env.app, name="env")
app.add_typer(db.app, name="db")
app.add_typer(data.app, name="data")
app.add_typer(models.app, name="models")
app.add_typer(monitor.app, name="monitor")
app.add_typer(infra.app, name="infra")
app.command("doctor")(doctor.doctor)
app.add_typer(pipeline.app, name="pipeline")
app.command("new")(project.new)
app.command("update")(project.update)
app.command("quickstart")(project.quickstart)
app.command("serve")(serve.serve)
app.command("deploy")(deploy.deploy)
app.add_typer(deploy.canary_app, name="canary")


def _version(value: bool) -> None:
    if value:
        print(f"mlops-kit {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    ctx: typer.Context,
    env_name: Annotated[
        str | None,
        typer.Option(
            "--env", "-e", help="Environment (default: $MLOPS_KIT_ENV, project file, local)."
        ),
    ] = None,
    warehouse: Annotated[str | None, typer.Option(help="Override the warehouse URI.")] = None,
    artifacts: Annotated[str | None, typer.Option(help="Override the artifacts URI.")] = None,
    metadata: Annotated[
        str | None, typer.Option(help="Override the metadata database URL.")
    ] = None,
    orchestrator: Annotated[str | None, typer.Option(help="Override the orchestrator URI.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    cli_state = CliState(
        env=env_name,
        overrides={
            "warehouse": warehouse,
            "artifacts": artifacts,
            "metadata": metadata,
            "orchestrator": orchestrator,
        },
        debug=debug,
    )
    ctx.obj = cli_state
    ctx.call_on_close(cli_state.close)


def one_line(message: str) -> str:
    """``message`` on one line, secrets hidden, cut to a readable length.

    Errors may quote huge user input, or a URI with its password (a driver's error quoting it).
    """
    return shorten(redact_secrets(" ".join(message.split())), 600)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI; every error ends as one line on standard error and a non-zero exit."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name="mlops-kit", standalone_mode=False)
    except typer.TyperException as exc:
        # Usage errors (an unknown option or command, a bad value): what is wrong, and the help.
        context = getattr(exc, "ctx", None)
        where = f"{context.command_path} --help" if context is not None else "mlops-kit --help"
        err_console.print(
            f"[bold red]error:[/bold red] {escape(one_line(exc.format_message()))} (see {where})",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except MlopsKitError as exc:
        if debug:
            traceback.print_exc()
        # Escaped: messages quote user input and extras like `mlops-kit[infra]`, not markup.
        err_console.print(
            f"[bold red]error:[/bold red] {escape(one_line(str(exc)))}",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        if debug:
            traceback.print_exc()
        err_console.print(
            f"[bold red]internal error:[/bold red] {type(exc).__name__}: "
            f"{escape(one_line(str(exc)))} "
            "(re-run with --debug for the traceback and report it)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(70)
    sys.exit(result if isinstance(result, int) else 0)
