"""How long work tells its caller how far it got, without knowing how (or whether) it is shown.

Library functions that take long (storing or downloading an artifact, snapshotting a dataset)
accept a :class:`Progress` and report through it; the CLI renders it (``mlops_kit.cli.progress``),
a script may pass its own, and the default, :data:`NO_PROGRESS`, ignores it. The library thus
never imports a terminal library.
"""

from __future__ import annotations

from typing import Literal, Protocol

Unit = Literal["bytes", "rows", "steps"]
"""What a task counts: bytes (shown with a transfer rate), rows, or steps of a sequence."""


class Progress(Protocol):
    """Receives the progress of one piece of work, task by task."""

    def start(self, description: str, total: float | None = None, unit: Unit = "steps") -> None:
        """A new task begins (the previous one, if any, is done).

        Args:
            description: what is being done, for people (``uploading churn@3``).
            total: how much there is to do, in ``unit``; ``None`` when unknown.
            unit: what :meth:`advance` counts.
        """

    def advance(self, amount: float) -> None:
        """``amount`` more of the current task is done."""


class _NoProgress:
    """Progress nobody looks at."""

    def start(self, description: str, total: float | None = None, unit: Unit = "steps") -> None:
        """Ignore it."""

    def advance(self, amount: float) -> None:
        """Ignore it."""


NO_PROGRESS: Progress = _NoProgress()
"""The default: report to no one."""
