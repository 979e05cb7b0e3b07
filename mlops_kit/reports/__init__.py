"""Self-contained HTML pages: inline CSS and SVG charts, no script, no network.

A :class:`Page` collects sections and renders one HTML file that opens in any browser offline
(data versioning diffs, model comparisons and monitoring reports use it)::

    page = Page("churn@1 → churn@2")
    page.heading("Type conformance")
    page.table(["column", "nonconforming"], [["tenure", 120]], flagged=[0])
    page.bars("tenure", ["0-10", "10-20"], {"churn@1": [5, 7], "churn@2": [6, 1]})
    page.write(Path("diff.html"))

Every text is escaped; charts are SVG drawn here, so the page carries no third-party code.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlops_kit.errors import ConfigError

_PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948")

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#222;max-width:1100px}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}tr.flag td{background:#fde8e8}
.note{color:#555;font-size:.9rem}.chart{display:inline-block;margin:.5rem 1rem .5rem 0}
.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 .8rem}
"""


def format_number(value: Any) -> str:
    """A cell's text: empty for ``None``, four significant digits for floats, ``str`` otherwise."""
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _text(value: Any) -> str:
    return html.escape(format_number(value))


class Page:
    """One offline HTML page made of headings, paragraphs, tables and bar charts."""

    def __init__(self, title: str) -> None:
        self.title = title
        self._parts: list[str] = [f"<h1>{_text(title)}</h1>"]

    def heading(self, text: str) -> None:
        """Start a section."""
        self._parts.append(f"<h2>{_text(text)}</h2>")

    def paragraph(self, text: str, *, note: bool = False) -> None:
        """A paragraph of plain text (``note`` renders it smaller and grey)."""
        css = ' class="note"' if note else ""
        self._parts.append(f"<p{css}>{_text(text)}</p>")

    def table(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        flagged: Sequence[int] = (),
    ) -> None:
        """A table; rows whose index is in ``flagged`` are highlighted."""
        head = "".join(f"<th>{_text(column)}</th>" for column in columns)
        body = []
        for index, row in enumerate(rows):
            css = ' class="flag"' if index in flagged else ""
            cells = "".join(f"<td>{_text(cell)}</td>" for cell in row)
            body.append(f"<tr{css}>{cells}</tr>")
        self._parts.append(f"<table><tr>{head}</tr>{''.join(body)}</table>")

    def bars(
        self,
        title: str,
        labels: Sequence[str],
        series: Mapping[str, Sequence[float]],
        *,
        width: int = 420,
        height: int = 160,
    ) -> None:
        """A grouped bar chart: one group per label, one bar per series (values as shares)."""
        if any(len(values) != len(labels) for values in series.values()):
            raise ConfigError(f"chart {title!r}: every series needs one value per label")
        top = max((value for values in series.values() for value in values), default=0.0) or 1.0
        group = width / max(len(labels), 1)
        bar = group / (len(series) + 1)
        shapes = []
        for s, (name, values) in enumerate(series.items()):
            colour = _PALETTE[s % len(_PALETTE)]
            for i, value in enumerate(values):
                h = (height - 20) * value / top
                x = i * group + s * bar
                shapes.append(
                    f'<rect x="{x:.1f}" y="{height - 20 - h:.1f}" width="{bar:.1f}" '
                    f'height="{h:.1f}" fill="{colour}"><title>{_text(name)} · '
                    f"{_text(labels[i])}: {_text(value)}</title></rect>"
                )
        step = max(1, len(labels) // 8)
        ticks = "".join(
            f'<text x="{i * group:.1f}" y="{height - 5}" font-size="10">{_text(labels[i])}</text>'
            for i in range(0, len(labels), step)
        )
        legend = "".join(
            f'<span style="background:{_PALETTE[s % len(_PALETTE)]}"></span>{_text(name)}'
            for s, name in enumerate(series)
        )
        self._parts.append(
            f'<div class="chart"><div><b>{_text(title)}</b></div>'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'role="img">{"".join(shapes)}{ticks}</svg><div class="legend">{legend}</div></div>'
        )

    def render(self) -> str:
        """The complete HTML document."""
        return (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{_text(self.title)}</title><style>{_STYLE}</style></head>"
            f"<body>{''.join(self._parts)}</body></html>"
        )

    def write(self, path: Path) -> Path:
        """Write the page to ``path``.

        Raises:
            ConfigError: the file cannot be written.
        """
        try:
            path.write_text(self.render(), encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write report {str(path)!r}: {exc.strerror}") from exc
        return path
