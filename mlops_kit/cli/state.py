"""What the global options of the CLI decide, shared by every command."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    # The kit (settings, pydantic, backends) is imported when a command opens it, never for --help.
    from mlops_kit.environments import Environment
    from mlops_kit.kit import Kit


@dataclass
class CliState:
    """The global options; the environment is resolved on first use, once."""

    env: str | None = None
    overrides: dict[str, str | None] = field(default_factory=dict)
    debug: bool = False
    dry_run: bool = False
    command: str = ""
    """The command that runs, as ``models promote`` (set by :func:`state`)."""
    _kit: Kit | None = None

    def kit(self) -> Kit:
        """The kit of the selected environment."""
        if self._kit is None:
            from mlops_kit.kit import Kit

            self._kit = Kit.open(self.env, **self.overrides)
            if self.dry_run:
                self._kit.start_dry_run(self._running())
        return self._kit

    def refuse_change(self, change: str) -> None:
        """End a dry run before ``change``, which the command makes outside the kit's roles.

        The roles the kit opens refuse their own changes; a command that publishes a package or
        writes files without them says what it would change here first.

        Raises:
            DryRunEnded: the command runs with ``--dry-run``; nothing was changed.
        """
        if self.dry_run:
            from mlops_kit.errors import DryRunEnded

            raise DryRunEnded.before_change(self._running(), change)

    def _running(self) -> str:
        return f"`{self.command}`" if self.command else "the command"

    def environment(self, name: str | None) -> Environment:
        """The settings of environment ``name`` (default: the selected one), with the overrides."""
        from mlops_kit.environments import resolve_environment

        return resolve_environment(name or self.env, overrides=self.overrides)

    def close(self) -> None:
        """Say what the warehouse's queries processed, and release the kit's connections."""
        if self._kit is None:
            return
        warehouse = self._kit.__dict__.get("warehouse")  # only if the command opened it
        if warehouse is not None and warehouse.bytes_processed is not None:
            # On stderr: the cost of the command, apart from its result (which may be JSON).
            from mlops_kit.cli.output import err_console

            err_console.print(
                f"warehouse queries processed {warehouse.bytes_processed:,} bytes",
                highlight=False,
                soft_wrap=True,
            )
        self._kit.close()


def state(ctx: typer.Context) -> CliState:
    """The :class:`CliState` of the running command, which ``ctx`` (the command's) names."""
    found = ctx.find_object(CliState)
    if found is None:
        raise RuntimeError("the CLI state is missing: commands must run under the mlops-kit app")
    found.command = found.command or ctx.command_path.partition(" ")[2]
    return found


def kit_for(ctx: typer.Context, env: str | None) -> Kit:
    """The kit of ``env`` when given after the command, else of the global options."""
    cli = state(ctx)
    if env:
        cli.env = env
    return cli.kit()
