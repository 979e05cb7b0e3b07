"""What a dataset diff found, as ranked findings, whether or not a ``--fail-on`` rule names it.

The thresholds are stated here and in the README: a null rate that grows by
:data:`NULL_JUMP` or more, a column that became empty or constant, values that do not parse as the
reference's type, added, removed or retyped columns, new or vanished categories, drift above
:data:`LARGE_PSI` (numbers) or :data:`LARGE_JS` (categories), and a row count that changes by more
than :data:`ROW_CHANGE`. Identifier-like columns (whole numbers or text, almost every value
distinct on both sides) are not judged on drift or categories, nor charted: every value of a new
extract is new there by design.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from mlops_kit.findings import Finding, Severity, names, percent, ranked
from mlops_kit.reports import format_number

NULL_JUMP: Final = 0.05
"""A null rate growing by this share of rows (5 percentage points) or more is a finding."""
BROKEN_NULL_JUMP: Final = 0.5
"""…and a broken column from this jump on (half the rows lost their value)."""
LARGE_PSI: Final = 0.2
"""A population stability index above this is a large shift of a numeric column."""
LARGE_JS: Final = 0.1
"""A Jensen–Shannon distance above this is a large shift of a categorical column."""
ROW_CHANGE: Final = 0.1
"""A row count changing by more than this share of the reference's rows is a finding."""
IDENTIFIER_SHARE: Final = 0.95
"""A column whose distinct values are at least this share of its non-null rows is an identifier."""


def identifier_like(column: Mapping[str, Any], rows: int) -> bool:
    """Whether a profiled column looks like an identifier: (almost) every value distinct.

    Only whole numbers and text: measurements such as prices are distinct too, but are not whole.
    """
    if str(column.get("type", "")).startswith(("float", "decimal")):
        return False
    present = rows * (1 - float(column.get("null_rate", 0.0)))
    return present >= 20 and column.get("distinct", 0) >= IDENTIFIER_SHARE * present


def identifiers(summary: Mapping[str, Any]) -> set[str]:
    """The columns of a diff's summary that are identifier-like in both versions."""
    rows_a, rows_b = summary["rows"]["a"], summary["rows"]["b"]
    return {
        name
        for name, column in summary["columns"].items()
        if identifier_like(column["a"], rows_a) and identifier_like(column["b"], rows_b)
    }


def diff_findings(summary: Mapping[str, Any]) -> list[Finding]:
    """Everything a diff's ``summary`` shows that broke or changed, most severe first."""
    a, b = summary["a"]["ref"], summary["b"]["ref"]
    versions = {"datasets": [a, b]}
    found: list[Finding] = []
    conformance = summary["conformance"]
    for name, item in conformance.items():
        if not item["nonconforming"]:
            continue
        share = item["nonconforming"] / item["checked"] if item["checked"] else 1.0
        examples = ", ".join(f"{value!r} ×{count}" for value, count in item["examples"][:3])
        found.append(
            Finding(
                Severity.broken,
                f"{name}: {item['nonconforming']} of {item['checked']} values in {b} "
                f"({percent(share)}) are not {item['expected']}, its type in {a} "
                f"(e.g. {examples})",
                {"columns": [name], **versions},
                "text written into a numeric column upstream (a data-prep or export change)",
                weight=1.0 + share,
            )
        )
    schema = summary["schema"]
    for key, severity, text in (
        ("removed", Severity.broken, f"columns of {a} are missing in {b}"),
        ("added", Severity.info, f"new columns in {b}"),
    ):
        listed = [c["name"] for c in schema[key]]
        if listed:
            evidence = {"columns": listed, **versions}
            found.append(Finding(severity, f"{len(listed)} {text}: {names(listed)}", evidence))
    retyped = [
        c for c in schema["retyped"] if not conformance.get(c["name"], {}).get("nonconforming")
    ]
    for change in retyped:
        found.append(
            Finding(
                Severity.warning,
                f"{change['name']} changed type {change['from']} → {change['to']} ({a} → {b})",
                {"columns": [change["name"]], **versions},
            )
        )
    found += _column_findings(summary, versions)
    rows = summary["rows"]
    if abs(rows["change_rate"]) > ROW_CHANGE:
        found.append(
            Finding(
                Severity.warning,
                f"row count {rows['a']} → {rows['b']} ({rows['change_rate']:+.0%})",
                versions,
                weight=abs(rows["change_rate"]),
            )
        )
    return ranked(found)


def _column_findings(
    summary: Mapping[str, Any], versions: Mapping[str, list[str]]
) -> list[Finding]:
    a, b = versions["datasets"]
    ids = identifiers(summary)
    found: list[Finding] = []
    # Columns that lost their values the same way are one finding: one source broke them.
    emptied: dict[tuple[bool, str, str], list[tuple[str, float]]] = {}
    for name, column in summary["columns"].items():
        before, after = column["a"], column["b"]
        evidence = {"columns": [name], **versions}
        jump = after["null_rate"] - before["null_rate"]
        if jump >= NULL_JUMP or (after["null_rate"] >= 1.0 > before["null_rate"]):
            key = (
                after["null_rate"] >= 1.0,
                percent(before["null_rate"]),
                percent(after["null_rate"]),
            )
            emptied.setdefault(key, []).append((name, jump))
        elif after["distinct"] == 1 and before["distinct"] > 1 and after["null_rate"] < 1.0:
            found.append(
                Finding(
                    Severity.warning,
                    f"{name} is constant in {b} (it had {before['distinct']} values in {a})",
                    evidence,
                )
            )
        if name in ids:
            continue
        found += _shift_findings(name, column, evidence, a, b)
    for (empty, before_text, after_text), columns in emptied.items():
        listed = [name for name, _ in columns]
        jump = max(j for _, j in columns)
        evidence = {"columns": listed, **versions}
        cause: str | None
        if empty:
            verb = "is" if len(listed) == 1 else "are"
            statement = f"{names(listed)} {verb} empty in {b} (null in {before_text} of {a})"
            cause, severity, weight = "the source stopped filling it", Severity.broken, 1 + jump
        else:
            statement = f"{names(listed)} null rate {before_text} → {after_text} ({a} → {b})"
            severe = jump >= BROKEN_NULL_JUMP
            severity = Severity.broken if severe else Severity.warning
            cause = "the source stopped filling it for most rows" if severe else None
            weight = jump
        found.append(Finding(severity, statement, evidence, cause, weight))
    return found


def _shift_findings(
    name: str, column: Mapping[str, Any], evidence: Mapping[str, list[str]], a: str, b: str
) -> list[Finding]:
    found = []
    drift = column.get("drift") or {}
    if drift.get("psi", 0.0) > LARGE_PSI:
        found.append(
            Finding(
                Severity.warning,
                f"{name} shifted: PSI {format_number(drift['psi'])} > {LARGE_PSI} "
                f"(KS {format_number(drift['ks'])}) from {a} to {b}",
                evidence,
                weight=drift["psi"],
            )
        )
    elif drift.get("js", 0.0) > LARGE_JS:
        found.append(
            Finding(
                Severity.warning,
                f"{name} shifted: Jensen–Shannon {format_number(drift['js'])} > {LARGE_JS} "
                f"from {a} to {b}",
                evidence,
                weight=drift["js"],
            )
        )
    categories = column.get("categories") or {}
    new, vanished = categories.get("new_count", 0), categories.get("vanished_count", 0)
    if new or vanished:
        parts = []
        if new:
            parts.append(f"{new} new ({names([repr(v) for v in categories['new']], 3)})")
        if vanished:
            parts.append(
                f"{vanished} vanished ({names([repr(v) for v in categories['vanished']], 3)})"
            )
        found.append(
            Finding(
                Severity.warning if vanished else Severity.info,
                f"{name} categories in {b}: {', '.join(parts)}",
                evidence,
            )
        )
    return found
