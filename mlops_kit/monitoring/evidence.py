"""What else is known about a violated slice value: its training rows, its inputs' problems.

The check attaches these lines to each violation of a slice value
(:attr:`~mlops_kit.monitoring.check.Violation.evidence`), and the findings state them. The inputs
are described for the violated values of a slice column taken together
(:func:`~mlops_kit.monitoring.report.describe_slice_inputs`, one profile query per column); an
input counts as a problem there when it is empty, holds values that are not numbers, is at least
5 % null, or drifted from the training data beyond the data-versioning limits. The slice's own
column is left out: a slice of one feature's values always differs from all of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_kit.data.diagnosis import LARGE_JS, LARGE_PSI
from mlops_kit.findings import names, percent
from mlops_kit.reports import format_number

if TYPE_CHECKING:
    from mlops_kit.monitoring.report import MonitoringReport

_NULL_SHARE = 0.05
"""A null rate from which an input of violated slice values is named as evidence."""


def input_problems(report: MonitoringReport, column: str) -> list[str]:
    """What is wrong with the inputs in the values of ``column`` the report described."""
    described = report.slice_inputs.get(column)
    if not described:
        return []
    where = f"at {column}={names(described['values'], 8)}"
    problems = []
    for name, health in sorted(described["health"].items()):
        window = report.health.get(name, {}).get("null_rate")
        if health["empty"]:
            problems.append(f"{name} is empty {where}")
        elif health["nonconforming"]:
            problems.append(
                f"{name} has {health['nonconforming']} values that are not numbers {where}"
            )
        elif health["null_rate"] >= _NULL_SHARE:
            than = f" ({percent(window)} in the whole window)" if window is not None else ""
            problems.append(f"{name} is {percent(health['null_rate'])} null {where}{than}")
    for name, drift in sorted(described["drift"].items()):
        if name == column:
            continue
        measure, limit = ("psi", LARGE_PSI) if "psi" in drift else ("js", LARGE_JS)
        if drift.get(measure, 0.0) > limit:
            problems.append(
                f"{name} drifted from the training data {where} ({measure.upper()} "
                f"{format_number(drift[measure])} > {limit})"
            )
    return problems


def violation_evidence(report: MonitoringReport, subject: str) -> tuple[str, ...]:
    """What else is known about a violated slice value: its training rows, its inputs."""
    column, _, value = subject.partition("=")
    if not value:
        return ()
    found = []
    entry = next((e for e in report.coverage.get(column, []) if e["value"] == value), None)
    if entry is not None and entry["training"] is not None:
        share = entry["training_share"] or 0.0
        found.append(
            f"{entry['training']} training rows at {subject}"
            + (f" ({percent(share)} of the training data)" if entry["training"] else "")
        )
    return (*found, *input_problems(report, column))
