"""Progress of long commands on stderr, drawn by rich, for people at a terminal only.

The library reports through :class:`mlops_kit.progress.Progress`; this module draws it: bytes and
rate for transfers, rows or steps otherwise, a spinner while the amount is unknown. Nothing is
drawn when stderr is not a terminal (piped, redirected), with ``--format json`` or under CI
(``CI`` set): output that a program reads stays exactly what it was.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from rich import filesize
from rich.progress import (
    BarColumn,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Progress as Bars
from rich.text import Text

from mlops_kit.cli import output
from mlops_kit.cli.output import OutputFormat
from mlops_kit.progress import NO_PROGRESS, Progress, Unit


class _Amount(ProgressColumn):
    """``12.0/48.0 MB 9.1 MB/s`` for bytes, ``2/5 steps`` or ``3,000 rows`` otherwise."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit", "steps")
        done = int(task.completed)
        total = None if task.total is None else int(task.total)
        if unit == "bytes":
            rate = f" {filesize.decimal(int(task.speed))}/s" if task.speed else ""
            size = "?" if total is None else filesize.decimal(total)
            return Text(f"{filesize.decimal(done)}/{size}{rate}")
        if total is None:
            return Text("")
        return Text(f"{done:,}/{total:,} {unit}")


class _Drawn:
    """A :class:`~mlops_kit.progress.Progress` drawn as rich progress bars, one per task."""

    def __init__(self, bars: Bars) -> None:
        self.bars = bars
        self.task: TaskID | None = None

    def start(self, description: str, total: float | None = None, unit: Unit = "steps") -> None:
        if self.task is not None:  # the previous task is done: its bar is shown full
            done = self.bars.tasks[-1]
            whole = done.total if done.total is not None else max(done.completed, 1)
            self.bars.update(self.task, total=whole, completed=whole)
        self.task = self.bars.add_task(description, total=total, unit=unit)

    def advance(self, amount: float) -> None:
        if self.task is not None:
            self.bars.advance(self.task, amount)


def _shown(chosen: OutputFormat) -> bool:
    return (
        chosen is not OutputFormat.json
        and output.err_console.is_terminal
        and not os.environ.get("CI")
    )


@contextmanager
def progress(chosen: OutputFormat = OutputFormat.table) -> Iterator[Progress]:
    """A :class:`~mlops_kit.progress.Progress` drawn on stderr while the block runs, if shown."""
    if not _shown(chosen):
        yield NO_PROGRESS
        return
    bars = Bars(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(bar_width=24),
        _Amount(),
        TimeElapsedColumn(),
        console=output.err_console,
        # Gone when the command ends: what stays on the terminal is the command's result.
        transient=True,
    )
    with bars:
        yield _Drawn(bars)
