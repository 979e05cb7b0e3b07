"""How the CLI prints: rich tables for people, JSON for machines, one line for errors."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mlops_kit.reports import format_number

if TYPE_CHECKING:
    from mlops_kit.findings import Finding

PIPED_WIDTH = 160
"""Columns of tables and lines when no terminal says how wide: logs of CI and cron jobs, files."""


def _width() -> int | None:
    # With any terminal (even only stderr, as in `cmd | less`) or $COLUMNS, rich sizes output to
    # it; without either it would fold every table at 80 columns, unreadable in a CI log.
    if "COLUMNS" in os.environ:
        return None
    for stream in (sys.stdout, sys.stderr, sys.stdin):
        try:
            if os.isatty(stream.fileno()):
                return None
        except (AttributeError, OSError, ValueError):  # replaced or closed streams
            continue
    return PIPED_WIDTH


console = Console(width=_width())
err_console = Console(stderr=True, width=_width())


class OutputFormat(StrEnum):
    """The ``--format`` choices of commands that print data."""

    table = "table"
    json = "json"


FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]
"""The ``--format`` option of every command that prints data."""


def print_result(
    output: OutputFormat,
    data: Any,
    for_people: Callable[[], object],
    findings: Sequence[Finding] | None = None,
) -> None:
    """Print a command's result in the chosen ``--format``, its findings first.

    Args:
        output: the format chosen on the command line.
        data: the result for machines, printed as indented JSON (no markup, no wrapping).
        for_people: prints the result for people (tables, lines); called only for ``table``.
        findings: what a diagnosis found, ranked: printed before anything else, and the first
            key (``findings``) of the JSON object ``data``.
    """
    if output is OutputFormat.json:
        if findings is not None:
            data = {"findings": [f.to_dict() for f in findings]} | {
                k: v for k, v in data.items() if k != "findings"
            }
        print(json.dumps(_strict_json(data), indent=2, default=str, ensure_ascii=False))
        return
    if findings is not None:
        print_findings(findings)
    for_people()


def _strict_json(data: Any) -> Any:
    """``data`` with every NaN or infinite number as ``None``.

    JSON has no such numbers: Python's ``NaN`` and ``Infinity`` tokens break other parsers.
    """
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {key: _strict_json(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_strict_json(value) for value in data]
    return data


_NAME_WIDTH = 28
_SEVERITY_STYLE = {"broken": "bold red", "warning": "yellow", "info": "cyan"}


def print_findings(findings: Sequence[Finding]) -> None:
    """The ranked findings, one numbered entry each with its likely cause below, wrapped to fit."""
    if not findings:
        console.print("[bold]Findings:[/bold] nothing found to report")
        return
    grid = Table.grid(padding=(0, 1))
    grid.add_column(justify="right", no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for number, finding in enumerate(findings, 1):
        style = _SEVERITY_STYLE[str(finding.severity)]
        text = Text(finding.statement)
        if finding.cause:
            text.append(f"\nlikely cause: {finding.cause}", style="italic")
        grid.add_row(f"{number}.", Text(finding.severity.upper(), style=style), text)
    console.print("[bold]Findings[/bold]")
    console.print(grid)
    console.print()


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A rich table with ``columns`` and ``rows``, laid out for the terminal's width.

    Numbers follow the kit's one rule (:func:`~mlops_kit.reports.format_number`). When the table
    is wider than the terminal, headers stay whole (wrapped between words), the first column
    (what names the row: a slice, a column, a field) keeps up to 28 characters, and the other
    cells wrap.
    """
    cells = [[format_number(cell) for cell in row] for row in rows]
    result = Table(title=title, title_justify="left", header_style="bold")
    for column, width in zip(columns, column_widths(columns, cells, console.width), strict=True):
        result.add_column(column, width=width, overflow="fold")
    for row in cells:
        result.add_row(*row)
    return result


def column_widths(
    columns: Sequence[str], cells: Sequence[Sequence[str]], total: int
) -> list[int | None]:
    """Each column's width in a table of ``total`` characters (``None``: as wide as it needs).

    A table that fits is left alone. Otherwise every column gets its header's longest word (the
    first column up to :data:`_NAME_WIDTH` of its longest cell) and the rest of the room goes to
    the columns in proportion to what more they would need.
    """
    natural = [
        max([len(column), *(len(line) for row in cells for line in row[i].splitlines() or [""])])
        for i, column in enumerate(columns)
    ]
    room = total - 3 * len(columns) - 1  # borders and padding
    if sum(natural) <= room:
        return [None] * len(columns)
    # A header wraps between its words, never inside one.
    floor = [max(len(word) for word in column.split() or [""]) for column in columns]
    floor[0] = max(floor[0], min(natural[0], _NAME_WIDTH))
    spare = max(room - sum(floor), 0)
    wanted = [n - f for n, f in zip(natural, floor, strict=True)]
    extra = [spare * w // (sum(wanted) or 1) for w in wanted]
    return [f + e for f, e in zip(floor, extra, strict=True)]


def status_mark(ok: bool) -> str:
    """A coloured ok/FAIL cell."""
    return "[green]ok[/green]" if ok else "[bold red]FAIL[/bold red]"
