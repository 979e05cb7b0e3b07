"""The HTML page of a dataset diff: tables of what changed and charts of the distributions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_kit import stats
from mlops_kit.data.diagnosis import identifiers

if TYPE_CHECKING:
    from mlops_kit.data.diffs import DatasetDiff
    from mlops_kit.reports import Page


def diff_page(result: DatasetDiff) -> Page:
    """A :class:`mlops_kit.reports.Page` showing ``result`` with charts (write it with ``.write``)."""
    from mlops_kit.reports import Page, format_number

    summary = result.summary
    page = Page(f"Dataset diff: {summary['a']['ref']} → {summary['b']['ref']}")
    page.findings(result.findings)
    rows = summary["rows"]
    page.paragraph(
        f"Rows {rows['a']} → {rows['b']} ({rows['change']:+d}). "
        + ("Identical content." if summary["identical"] else "Content differs.")
    )
    conformance = summary["conformance"]
    page.heading("Type conformance")
    if conformance:
        page.table(
            ["column", "expected", "actual", "nonconforming", "checked", "examples"],
            [
                [
                    n,
                    c["expected"],
                    c["actual"],
                    c["nonconforming"],
                    c["checked"],
                    ", ".join(f"{v!r} ×{k}" for v, k in c["examples"]),
                ]
                for n, c in conformance.items()
            ],
            flagged=[i for i, c in enumerate(conformance.values()) if c["nonconforming"]],
        )
    else:
        page.paragraph("Every value parses as its column's expected type.", note=True)
    schema = summary["schema"]
    page.heading("Schema")
    changes = [["added", c["name"], "", c["type"]] for c in schema["added"]]
    changes += [["removed", c["name"], c["type"], ""] for c in schema["removed"]]
    changes += [["retyped", c["name"], c["from"], c["to"]] for c in schema["retyped"]]
    if changes:
        page.table(["change", "column", "before", "after"], changes, flagged=range(len(changes)))
    else:
        page.paragraph("No schema change.", note=True)
    page.heading("Columns")
    table_rows, flagged = [], []
    for index, (name, column) in enumerate(summary["columns"].items()):
        drift = column["drift"] or {}
        a, b = column["a"], column["b"]
        measure = (
            f"PSI {drift['psi']:.3f}, KS {drift['ks']:.3f}"
            if "psi" in drift
            else f"JS {drift['js']:.3f}"
            if "js" in drift
            else ""
        )
        if drift.get("psi", 0) > 0.2 or drift.get("js", 0) > 0.1:
            flagged.append(index)
        table_rows.append(
            [
                name,
                f"{a['type']} → {b['type']}",
                f"{a['null_rate']:.3f} → {b['null_rate']:.3f}",
                f"{a['distinct']} → {b['distinct']}",
                f"{format_number(a.get('mean'))} → {format_number(b.get('mean'))}",
                measure,
            ]
        )
    page.table(
        ["column", "type", "null rate", "distinct", "mean", "drift"], table_rows, flagged=flagged
    )
    if summary.get("keys"):
        keys = summary["keys"]
        page.heading(f"Rows by key {keys['key']}")
        page.table(
            ["change", "rows", "examples"],
            [
                [kind, keys[kind], ", ".join(keys["examples"][kind])]
                for kind in ("added", "removed", "changed")
            ],
        )
    _distributions(page, result)
    return page


def _distributions(page: Page, result: DatasetDiff) -> None:
    """Both versions' shares per group of bins or category; identifier-like columns left out."""
    a, b = result.summary["a"]["ref"], result.summary["b"]["ref"]
    page.heading("Distributions")
    ids = identifiers(result.summary)
    if ids:
        page.paragraph(
            f"Not charted, identifier-like (almost every value distinct): {', '.join(sorted(ids))}.",
            note=True,
        )
    for name, (hist_a, hist_b) in result.histograms.items():
        if name in ids:
            continue
        labels, shares_a, shares_b = stats.grouped_shares(hist_a, hist_b, 20)
        page.bars(name, labels, {a: shares_a, b: shares_b})
    for name, column in result.summary["columns"].items():
        if "categories" in column and name not in ids:
            shifts = column["categories"]["shifts"]
            page.bars(
                name,
                [str(value) for value, _, _ in shifts],
                {
                    a: [s[1] for s in shifts],
                    b: [s[2] for s in shifts],
                },
            )
