"""How long work tells its caller how far it got, without knowing how (or whether) it is shown.

Library functions that take long (storing or downloading an artifact, snapshotting a dataset)
accept a :class:`Progress` and report through it; the CLI renders it (``mlops_kit.cli.progress``),
a script may pass its own, and the default, :data:`NO_PROGRESS`, ignores it. The library thus
never imports a terminal library.
"""

from __future__ import annotations

from typing import Literal, Protocol

Unit = Literal["bytes", "rows", "steps", "tasks"]
"""What a task counts: bytes (shown with a transfer rate), rows, steps of a sequence, or the
tasks of a pipeline run."""


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


class Stages:
    """The numbered stages of one piece of work, each told to a :class:`Progress` as it begins.

    With ``stages = Stages(progress, 3)``, ``stages.start("profiling 3,000 rows")`` reports
    ``[1/3] profiling 3,000 rows``, the next call ``[2/3] ...``. Stages are a :class:`Progress`
    themselves: work that has stages of its own, given the stages of a larger piece of work,
    numbers its stages among those.
    """

    def __init__(self, progress: Progress, count: int) -> None:
        self.progress = progress
        self.count = count
        self.begun = 0

    def start(self, description: str, total: float | None = None, unit: Unit = "steps") -> None:
        """The next stage begins (the previous one is done)."""
        self.begun += 1
        self.progress.start(f"[{self.begun}/{self.count}] {description}", total, unit)

    def advance(self, amount: float) -> None:
        """``amount`` more of the current stage is done."""
        self.progress.advance(amount)

    @classmethod
    def of(cls, progress: Progress, count: int) -> Stages:
        """Stages of a piece of work: ``progress`` if it is already stages, else ``count`` new ones.

        Given the stages of a larger piece of work, a part numbers its stages among those.
        """
        return progress if isinstance(progress, Stages) else cls(progress, count)
