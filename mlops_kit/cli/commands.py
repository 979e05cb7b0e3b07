"""The commands of ``mlops-kit``, each imported from its module when the command line names it.

``mlops-kit --help`` lists every command from :data:`COMMANDS` without importing a command
module (they bring rich, the kit's settings and their libraries), and ``mlops-kit models …``
imports ``mlops_kit.cli.models`` alone: the CLI starts in the time its command needs.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import typer
import typer.core
from typer._click import Command, Context, HelpFormatter
from typer._click.utils import make_default_short_help
from typer._coercion import PassThroughRuntimeParam


@dataclass(frozen=True)
class Entry:
    """Where a command is defined, and the help ``mlops-kit --help`` lists for it."""

    module: str
    """The module under ``mlops_kit.cli`` that defines it."""
    attribute: str
    """A ``typer.Typer`` (a group of commands) or a command function in that module."""
    help: str
    """The first paragraph of the command's own help (a test keeps the two equal)."""


COMMANDS: dict[str, Entry] = {
    "doctor": Entry(
        "doctor",
        "doctor",
        "Check that every role of the environment works (creates the local twin on first use).",
    ),
    "new": Entry(
        "project", "new", "Create a project from a template, wired to the environment (--env)."
    ),
    "update": Entry(
        "project",
        "update",
        "Merge the newest template version into a project (review and commit the result).",
    ),
    "quickstart": Entry(
        "project",
        "quickstart",
        "Create a demo project on the local twin, run its pipeline end to end, show what exists.",
    ),
    "serve": Entry(
        "serve",
        "serve",
        "Serve a model over HTTP (Vertex AI and KServe v1 routes), following its alias.",
    ),
    "env": Entry("env", "app", "List, show and import environments."),
    "db": Entry("db", "app", "Migrate the metadata database."),
    "data": Entry("data", "app", "Immutable dataset versions, profiles and diffs."),
    "models": Entry("models", "app", "Register, promote, roll back and compare model versions."),
    "monitor": Entry(
        "monitor", "app", "Monitor model versions: sliced metrics, drift, health, checks."
    ),
    "infra": Entry(
        "infra",
        "app",
        "Audit the infrastructure code offline (no Pulumi CLI, credentials or network).",
    ),
    "pipeline": Entry(
        "pipeline", "app", "Run, compile, schedule and list the project's training pipeline."
    ),
    "deploy": Entry(
        "deploy",
        "deploy",
        "Deploy REF through the environment's deploy target (local, GKE or Vertex AI).",
    ),
    "canary": Entry("deploy", "canary_app", "Judge or withdraw the canary of an alias."),
    "predict": Entry(
        "deploy",
        "predict",
        "Send instances to the model the deploy target serves and print its predictions.",
    ),
}


class CommandGroup(typer.core.TyperGroup):
    """A group whose own options (text and flags) pass their values through as given.

    Typer 0.29 converts every option with a pydantic adapter, built when the option is
    processed, even when it has no value. A group's options are the global options (URIs,
    names), flags and ``--help``: importing pydantic for them was most of the start-up of
    ``mlops-kit models versions --help``. The commands themselves keep typer's conversion.
    """

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        """Parse as click does, with pass-through converters for text and flag options."""
        for param in self.get_params(ctx):
            if isinstance(param, typer.core.TyperOption) and param.type_descriptor.annotation in (
                str,
                bool,
            ):
                param._runtime_param = PassThroughRuntimeParam(
                    parameter_info=param.type_descriptor.parameter_info,
                    annotation=param.type_descriptor.annotation,
                )
        return super().parse_args(ctx, args)


def _nothing() -> None:
    """The callback that makes a holder of one command a group."""


def load(name: str) -> Command:
    """Import the command ``name`` from its module and build it as typer would have."""
    entry = COMMANDS[name]
    target = getattr(importlib.import_module(f"mlops_kit.cli.{entry.module}"), entry.attribute)
    # Plain help text: typer's rich help formatter alone costs a tenth of a second to import.
    holder = typer.Typer(rich_markup_mode=None)
    holder.callback()(_nothing)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name, cls=CommandGroup)
    else:
        holder.command(name)(target)
    return typer.main.get_group(holder).commands[name]


class LazyCommands(MutableMapping[str, Command]):
    """The root's commands by name: each built on first access."""

    def __init__(self) -> None:
        self._loaded: dict[str, Command] = {}

    def __getitem__(self, name: str) -> Command:
        if name not in self._loaded:
            if name not in COMMANDS:
                raise KeyError(name)
            self._loaded[name] = load(name)
        return self._loaded[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*COMMANDS, *self._loaded]))

    def __len__(self) -> int:
        return len(dict.fromkeys([*COMMANDS, *self._loaded]))


class RootGroup(CommandGroup):
    """``mlops-kit``: lists its commands from :data:`COMMANDS`, imports one when it runs."""

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.commands = LazyCommands()

    def list_commands(self, ctx: Context) -> list[str]:
        """The command names, in the order of :data:`COMMANDS`, none imported."""
        return list(self.commands)

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        """The ``Commands`` section of the help, from :data:`COMMANDS`."""
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, make_default_short_help(e.help, limit)) for name, e in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)
