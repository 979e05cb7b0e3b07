"""What the global options of the CLI decide, shared by every command."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    # The kit (settings, pydantic, backends) is imported when a command opens it, never for --help.
    from mlops_kit.kit import Kit


@dataclass
class CliState:
    """The global options; the environment is resolved on first use, once."""

    env: str | None = None
    overrides: dict[str, str | None] = field(default_factory=dict)
    debug: bool = False
    _kit: Kit | None = None

    def kit(self) -> Kit:
        """The kit of the selected environment."""
        if self._kit is None:
            from mlops_kit.kit import Kit

            self._kit = Kit.open(self.env, **self.overrides)
        return self._kit

    def close(self) -> None:
        """Release the kit's connections."""
        if self._kit is not None:
            self._kit.close()


def state(ctx: typer.Context) -> CliState:
    """The :class:`CliState` of the running command."""
    found = ctx.find_object(CliState)
    if found is None:
        raise RuntimeError("the CLI state is missing: commands must run under the mlops-kit app")
    return found
