"""The arguments that name the kit's things (models, datasets, environments), each declared once.

A command names one by its type (``name: ModelName``), so the same thing is asked for with the
same words everywhere. Options that only one group of commands repeats are declared in its module.
"""

from __future__ import annotations

from typing import Annotated

import typer

ModelName = Annotated[str, typer.Argument(help="Model name.")]
"""A registered model, by name."""

ModelRef = Annotated[str, typer.Argument(help="NAME@VERSION or NAME@ALIAS.")]
"""A model version, by number or by the alias that points at it."""

DatasetRef = Annotated[str, typer.Argument(help="NAME@V, NAME@latest or NAME.")]
"""A dataset version, by number, or the newest."""

EnvironmentName = Annotated[
    str | None, typer.Argument(help="Environment; default: the selected one.")
]
"""An environment by name; ``None`` stands for the one the global ``--env`` selects."""

EnvOption = Annotated[
    str | None,
    typer.Option(
        "--env", "-e", help="Environment (same as the global --env, given after the command)."
    ),
]
"""The environment, named after the command; :func:`mlops_kit.cli.state.kit_for` opens it."""

Reason = Annotated[str, typer.Option("--reason", help="Why (kept in the alias history).")]
"""Why an alias moves or its traffic changes, kept in its history."""
