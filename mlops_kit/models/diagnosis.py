"""What a model comparison found: class shifts, inputs, and whether the data source changed.

Inputs are checked against each version's own training data.

A predicted-class distribution *shifted* when its total variation distance from the reference is
at least :data:`SHIFT_DISTANCE` (a tenth of the rows would have to change class) and Pearson's
chi-square test of homogeneity rejects "same distribution" at :data:`SHIFT_PVALUE`; a distance of
:data:`BROKEN_DISTANCE` or more is a broken finding. The reference of each version is the class
shares of its own training data's labels (the column holding the classes it predicts), or, when
that data has no such column, its own predictions on a sample of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from mlops_kit import stats
from mlops_kit.findings import Finding, Severity, names, percent, ranked

SHIFT_DISTANCE: Final = 0.1
"""Total variation distance from which a class distribution has shifted."""
SHIFT_PVALUE: Final = 0.001
"""The chi-square p-value below which a shift is more than sampling noise."""
BROKEN_DISTANCE: Final = 0.2
"""Total variation distance from which a class shift is a broken finding."""


@dataclass(frozen=True)
class ClassShift:
    """How one version's predicted classes on the data moved from a reference distribution."""

    version: str
    reference: str
    """What the reference is, in words (``the labels of activity@1``)."""
    before: Mapping[str, int]
    after: Mapping[str, int]
    measured: Mapping[str, float]

    @property
    def shifted(self) -> bool:
        """Whether the shift passes both thresholds."""
        return (
            self.measured["total_variation"] >= SHIFT_DISTANCE
            and self.measured["pvalue"] < SHIFT_PVALUE
        )

    @property
    def towards(self) -> tuple[str, float, float]:
        """The class whose share grew most, with its share before and after."""
        share_before, share_after = _shares(self.before), _shares(self.after)
        label = max(share_after, key=lambda c: (share_after[c] - share_before.get(c, 0.0), str(c)))
        return label, share_before.get(label, 0.0), share_after[label]

    def to_dict(self) -> dict[str, Any]:
        """The shift as JSON-able data."""
        return {
            "version": self.version,
            "reference": self.reference,
            "before": dict(self.before),
            "after": dict(self.after),
            **self.measured,
            "shifted": self.shifted,
        }


def class_shift(
    version: str, reference: str, before: Mapping[str, int], after: Mapping[str, int]
) -> ClassShift:
    """Measure how ``after`` moved from ``before`` (see :func:`mlops_kit.stats.class_shift`)."""
    return ClassShift(version, reference, before, after, stats.class_shift(before, after))


def _shares(counts: Mapping[str, int]) -> dict[str, float]:
    total = sum(counts.values()) or 1
    return {label: count / total for label, count in counts.items()}


def shift_finding(shift: ClassShift, dataset: str) -> Finding:
    """The finding of a shifted class distribution."""
    label, before, after = shift.towards
    distance = shift.measured["total_variation"]
    return Finding(
        Severity.broken if distance >= BROKEN_DISTANCE else Severity.warning,
        f"{shift.version} predicts {label!r} for {percent(after)} of {dataset} against "
        f"{percent(before)} in {shift.reference} (total variation {distance:.2f}, "
        f"chi-square p {shift.measured['pvalue']:.2g})",
        {"versions": [shift.version], "datasets": [dataset]},
        weight=distance,
    )


def versions_disagree(
    a: str, b: str, counts_a: Mapping[str, int], counts_b: Mapping[str, int], dataset: str
) -> Finding | None:
    """A finding when the two versions' predicted classes on the same data differ."""
    shift = class_shift(b, f"{a}'s predictions", counts_a, counts_b)
    if not shift.shifted:
        return None
    label, share_a, share_b = shift.towards
    return Finding(
        Severity.warning,
        f"on {dataset}, {b} predicts {label!r} for {percent(share_b)} of rows and {a} for "
        f"{percent(share_a)} (total variation {shift.measured['total_variation']:.2f})",
        {"versions": [a, b], "datasets": [dataset]},
        weight=shift.measured["total_variation"],
    )


def input_findings(version: str, trained_on: str, findings: Sequence[Finding]) -> list[Finding]:
    """A diff's findings from ``version``'s training data to the data, said about that version."""
    return [
        Finding(
            f.severity,
            f"inputs of {version} (trained on {trained_on}): {f.statement}",
            {**f.evidence, "versions": [version]},
            f.cause,
            f.weight,
        )
        for f in findings
    ]


def source_changed(
    dataset: str, shifts: Sequence[ClassShift], broken: Mapping[str, Sequence[Finding]]
) -> Finding | None:
    """The data source changed, not the models: every version shifts towards one class.

    It takes both: every version's classes shifted towards the same class on ``dataset``, and
    input columns that break against the training data.

    Args:
        dataset: the data both versions predicted on.
        shifts: each version's class shift on it.
        broken: per version, the broken findings of its inputs against its training data.
    """
    columns = sorted(
        {c for found in broken.values() for f in found for c in f.evidence.get("columns", [])}
    )
    if len(shifts) < 2 or not all(s.shifted for s in shifts) or not columns:
        return None
    if len({s.towards[0] for s in shifts}) != 1:
        return None
    label = shifts[0].towards[0]
    moved = " and ".join(
        f"{s.version} {percent(s.towards[1])} → {percent(s.towards[2])}" for s in shifts
    )
    statement = (
        f"{dataset} is the change, not the models: every version shifts towards {label!r} on it "
        f"({moved}) while {names(columns)} break against their training data"
    )
    return Finding(
        Severity.broken,
        statement,
        {
            "datasets": [dataset],
            "columns": columns,
            "versions": [s.version for s in shifts],
        },
        f"the data source behind {dataset}: fix the columns it stopped filling, "
        "rather than retraining or rolling back",
        weight=10.0,
    )


def comparison_findings(
    on: Mapping[str, Any] | None,
    training_findings: Sequence[Finding],
    metrics: Mapping[str, Mapping[str, Any]],
) -> list[Finding]:
    """Every finding of a comparison, ranked.

    The predictions and inputs on the data (``on``), the change between the two training sets,
    and the metrics that moved.

    Args:
        on: the comparison's ``on`` section with its ``shifts`` (:class:`ClassShift`) and
            ``input_findings`` (per version) still as objects, or ``None``.
        training_findings: the diff's findings between the versions' training data.
        metrics: overall metrics side by side (``{"a", "b", "delta"}`` per metric).
    """
    found: list[Finding] = []
    if on is not None:
        found += _on_findings(on)
    found += [
        Finding(f.severity, f"training data: {f.statement}", f.evidence, f.cause, f.weight)
        for f in training_findings
    ]
    for metric, values in metrics.items():
        if values["delta"]:
            found.append(
                Finding(
                    Severity.info,
                    f"{metric} {values['a']:.4g} → {values['b']:.4g} ({values['delta']:+.4g}) "
                    "in the versions' own evaluations",
                    {"metrics": [metric]},
                )
            )
    return ranked(found)


def _on_findings(on: Mapping[str, Any]) -> list[Finding]:
    dataset = on["dataset"]
    shifts: list[ClassShift] = on["shifts"]
    per_version: Mapping[str, list[Finding]] = on["input_findings"]
    found = [
        Finding(
            Severity.broken,
            f"{ref} cannot predict on {dataset}: {error}",
            {"versions": [ref], "datasets": [dataset]},
            weight=2.0,
        )
        for ref, error in on["errors"].items()
    ]
    found += [shift_finding(s, dataset) for s in shifts if s.shifted]
    refs = list(on["predictions"])
    if len(refs) == 2 and not on["errors"]:
        a, b = refs
        disagree = versions_disagree(a, b, on["predictions"][a], on["predictions"][b], dataset)
        if disagree is not None:
            found.append(disagree)
    for findings in per_version.values():
        found += findings
    broken = {
        ref: [f for f in findings if f.severity is Severity.broken]
        for ref, findings in per_version.items()
    }
    changed = source_changed(dataset, shifts, broken)
    return [changed, *found] if changed else found
