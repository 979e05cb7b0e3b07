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
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlops_kit.errors import ConfigError
from mlops_kit.findings import Finding

_PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948")

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#222;max-width:1100px}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}tr.flag td{background:#fde8e8}
.note{color:#555;font-size:.9rem}.chart{display:inline-block;margin:.5rem 1rem .5rem 0}
.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 .8rem}
ol.findings li{margin:.3rem 0}.sev{font-weight:bold;text-transform:uppercase;font-size:.8rem}
.sev-broken{color:#b00020}.sev-warning{color:#a15c00}.sev-info{color:#555}
"""

_AXIS = 36  # room left of a chart for its value axis
_FOOT = 34  # room below a chart for its category labels


SIGNIFICANT_DIGITS = 4
"""Every number the kit shows (CLI tables, pages, findings) keeps this many significant digits."""


def format_number(value: Any) -> str:
    """A number as the kit shows it, everywhere: the one formatting rule.

    Integers, and whole floats such as counts, as integers; other floats with
    :data:`SIGNIFICANT_DIGITS` significant digits; empty for ``None``; ``str`` for the rest.
    """
    if value is None:
        return ""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.{SIGNIFICANT_DIGITS}g}"
    return str(value)


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

    def findings(self, findings: Sequence[Finding]) -> None:
        """The ranked findings as a numbered list, each with its severity, evidence and cause."""
        self.heading("Findings")
        if not findings:
            self.paragraph("Nothing found to report.", note=True)
            return
        items = []
        for finding in findings:
            evidence = "; ".join(
                f"{kind}: {', '.join(values)}"
                for kind, values in finding.evidence.items()
                if values
            )
            cause = f"<br>Likely cause: {_text(finding.cause)}" if finding.cause else ""
            shown = f'<br><span class="note">{_text(evidence)}</span>' if evidence else ""
            items.append(
                f'<li><span class="sev sev-{finding.severity}">{_text(finding.severity)}</span> '
                f"{_text(finding.statement)}{cause}{shown}</li>"
            )
        self._parts.append(f'<ol class="findings">{"".join(items)}</ol>')

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
        height: int = 180,
        value_label: str = "share of rows",
    ) -> None:
        """A grouped bar chart: one group per label, one bar per series, on a labelled value axis."""
        if any(len(values) != len(labels) for values in series.values()):
            raise ConfigError(f"chart {title!r}: every series needs one value per label")
        top = max((value for values in series.values() for value in values), default=0.0) or 1.0
        plot = _Plot(width, height, top, len(labels))
        bar = plot.group / (len(series) + 1)
        shapes = []
        for s, (name, values) in enumerate(series.items()):
            colour = _PALETTE[s % len(_PALETTE)]
            for i, value in enumerate(values):
                x = plot.left(i) + (s + 0.5) * bar
                y = plot.y(value)
                shapes.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                    f'height="{plot.y(0) - y:.1f}" fill="{colour}"><title>{_text(name)} · '
                    f"{_text(labels[i])}: {_text(value)}</title></rect>"
                )
        self._chart(title, plot, labels, value_label, "".join(shapes), list(series))

    def intervals(
        self,
        title: str,
        labels: Sequence[str],
        values: Sequence[float | None],
        bounds: Sequence[tuple[float | None, float | None]],
        *,
        width: int = 720,
        height: int = 200,
        value_label: str = "value",
        flagged: Sequence[int] = (),
    ) -> None:
        """One bar per label with its interval as an error bar (flagged labels drawn in red)."""
        if not len(labels) == len(values) == len(bounds):
            raise ConfigError(f"chart {title!r}: every label needs a value and its bounds")
        upper = [high for _, high in bounds]
        top = max((v for v in (*values, *upper) if v is not None), default=0.0) or 1.0
        plot = _Plot(width, height, top, len(labels))
        shapes = []
        for i, value in enumerate(values):
            if value is None:
                continue
            colour = "#e15759" if i in flagged else _PALETTE[0]
            x, bar = plot.left(i) + plot.group * 0.2, plot.group * 0.6
            y = plot.y(value)
            tip = f"{labels[i]}: {format_number(value)}"
            low, high = bounds[i]
            if low is not None and high is not None:
                tip += f" [{format_number(low)}, {format_number(high)}]"
            shapes.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{plot.y(0) - y:.1f}" '
                f'fill="{colour}"><title>{_text(tip)}</title></rect>'
            )
            if low is not None and high is not None:
                mid, cap = x + bar / 2, bar / 4
                shapes.append(
                    f'<path d="M{mid:.1f} {plot.y(low):.1f}V{plot.y(high):.1f}'
                    f"M{mid - cap:.1f} {plot.y(low):.1f}h{2 * cap:.1f}"
                    f'M{mid - cap:.1f} {plot.y(high):.1f}h{2 * cap:.1f}" stroke="#222" '
                    'fill="none"/>'
                )
        self._chart(title, plot, labels, value_label, "".join(shapes), [])

    def _chart(
        self,
        title: str,
        plot: _Plot,
        labels: Sequence[str],
        value_label: str,
        shapes: str,
        legend: Sequence[str],
    ) -> None:
        step = max(1, len(labels) // 24)
        ticks = "".join(
            f'<text x="{plot.left(i) + plot.group / 2:.1f}" y="{plot.y(0) + 12:.1f}" '
            f'font-size="10" text-anchor="middle">{_text(labels[i][:12])}</text>'
            for i in range(0, len(labels), step)
        )
        axis = "".join(
            f'<text x="{_AXIS - 4}" y="{plot.y(v) + 3:.1f}" font-size="10" text-anchor="end">'
            f'{_text(format_number(v))}</text><line x1="{_AXIS}" x2="{plot.width}" '
            f'y1="{plot.y(v):.1f}" y2="{plot.y(v):.1f}" stroke="#ddd"/>'
            for v in plot.ticks()
        )
        axis += (
            f'<line x1="{_AXIS}" x2="{_AXIS}" y1="4" y2="{plot.y(0):.1f}" stroke="#888"/>'
            f'<text x="10" y="{plot.y(0) / 2:.1f}" font-size="10" text-anchor="middle" '
            f'transform="rotate(-90 10 {plot.y(0) / 2:.1f})">{_text(value_label)}</text>'
        )
        shown = "".join(
            f'<span style="background:{_PALETTE[s % len(_PALETTE)]}"></span>{_text(name)}'
            for s, name in enumerate(legend)
        )
        self._parts.append(
            f'<div class="chart"><div><b>{_text(title)}</b></div>'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{plot.width}" '
            f'height="{plot.height}" role="img">{axis}{shapes}{ticks}</svg>'
            f'<div class="legend">{shown}</div></div>'
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


class _Plot:
    """Where a chart's values go: a value axis on the left, one group per category below."""

    def __init__(self, width: int, height: int, top: float, count: int) -> None:
        self.width, self.height = width, height
        self.top = _nice(top)
        self.group = (width - _AXIS) / max(count, 1)

    def left(self, index: int) -> float:
        return _AXIS + index * self.group

    def y(self, value: float) -> float:
        return 4 + (self.height - _FOOT - 4) * (1 - value / self.top)

    def ticks(self) -> list[float]:
        return [self.top * i / 4 for i in range(5)]


def _nice(top: float) -> float:
    """The smallest of 1, 2, 2.5 or 5 times a power of ten at or above ``top``."""
    power = 10.0 ** math.floor(math.log10(top))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= top)
