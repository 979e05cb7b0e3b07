"""How the CLI prints: rich tables for people, JSON for machines, one line for errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


class OutputFormat(StrEnum):
    """The ``--format`` choices of commands that print data."""

    table = "table"
    json = "json"


FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]
"""The ``--format`` option of every command that prints data."""


def print_result(output: OutputFormat, data: Any, for_people: Callable[[], object]) -> None:
    """Print a command's result in the chosen ``--format``.

    Args:
        output: the format chosen on the command line.
        data: the result for machines, printed as indented JSON (no markup, no wrapping).
        for_people: prints the result for people (tables, lines); called only for ``table``.
    """
    if output is OutputFormat.json:
        print(json.dumps(data, indent=2, default=str, ensure_ascii=False))
    else:
        for_people()


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A rich table with ``columns`` and ``rows`` (cells are shown with ``str``)."""
    result = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        result.add_column(column)
    for row in rows:
        result.add_row(*("" if cell is None else str(cell) for cell in row))
    return result


def status_mark(ok: bool) -> str:
    """A coloured ok/FAIL cell."""
    return "[green]ok[/green]" if ok else "[bold red]FAIL[/bold red]"
