"""The ``mlops-kit`` command line: parse, call the library, print.

A command's module is imported when the command line names it (:mod:`mlops_kit.cli.commands`),
and command modules import the library inside their functions, so ``mlops-kit --help`` never pays
for rich, pydantic, SQLAlchemy, DuckDB or a cloud SDK.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from typing import Annotated

import typer

from mlops_kit import __version__
from mlops_kit.backends import redact_secrets
from mlops_kit.cli.commands import RootGroup
from mlops_kit.cli.state import CliState
from mlops_kit.errors import DryRunEnded, MlopsKitError, shorten

app = typer.Typer(
    name="mlops-kit",
    cls=RootGroup,
    help="Data versioning, model versioning, monitoring and continuous training on Google Cloud.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


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
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Change nothing: print what the first warehouse query would process, and stop there.",
        ),
    ] = False,
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
        dry_run=dry_run,
    )
    ctx.obj = cli_state
    ctx.call_on_close(cli_state.close)


def one_line(message: str) -> str:
    """``message`` on one line, secrets hidden, cut to a readable length.

    Errors may quote huge user input, or a URI with its password (a driver's error quoting it).
    """
    return shorten(redact_secrets(" ".join(message.split())), 600)


def _say(prefix: str, message: str, suffix: str = "") -> None:
    """Print one error line on standard error, ``message`` escaped (it quotes user input)."""
    # Imported here: rich prints errors and results, and --help needs neither.
    from rich.markup import escape

    from mlops_kit.cli.output import err_console

    err_console.print(
        f"{prefix}{escape(one_line(message))}{suffix}", highlight=False, soft_wrap=True
    )


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
        _say("[bold red]error:[/bold red] ", exc.format_message(), f" (see {where})")
        sys.exit(exc.exit_code)
    except typer.Abort:
        _say("", "aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except DryRunEnded as ended:
        print(ended)
        sys.exit(0)
    except MlopsKitError as exc:
        if debug:
            traceback.print_exc()
        # Escaped: messages quote user input and extras like `mlops-kit[infra]`, not markup.
        _say("[bold red]error:[/bold red] ", str(exc))
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        if debug:
            traceback.print_exc()
        _say(
            f"[bold red]internal error:[/bold red] {type(exc).__name__}: ",
            str(exc),
            " (re-run with --debug for the traceback and report it)",
        )
        sys.exit(70)
    sys.exit(result if isinstance(result, int) else 0)
