"""Findings: what a diagnosis found, ranked, in one shape for every command that diagnoses.

``data diff``, ``models compare`` and ``monitor report``/``check`` each turn their numbers into
:class:`Finding` objects: a severity, a one-line statement carrying the numbers, the evidence
(columns, slices, versions, datasets) and, where the kit can tell, the likely cause. :func:`ranked`
orders them (most severe first, then the largest effect), and every output shows them first: the
CLI before any table, ``--format json`` as the first key, the HTML page at its top.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """How much a finding matters, most severe first."""

    broken = "broken"
    """Something is wrong and explains bad results: fix it before anything else."""
    warning = "warning"
    """A change large enough to look at; it may be intended."""
    info = "info"
    """Context: a change or a fact that helps read the rest."""

    @property
    def rank(self) -> int:
        """0 for the most severe."""
        return list(Severity).index(self)


@dataclass(frozen=True)
class Finding:
    """One thing a diagnosis found.

    Attributes:
        severity: how much it matters.
        statement: one line with the numbers (``api_calls is null in 90% of activity@3 …``).
        evidence: what it is about, by kind (``columns``, ``slices``, ``versions``, ``datasets``),
            each a list of names in the order that matters.
        cause: the likely cause, when the kit can tell; ``None`` otherwise.
        weight: the size of the effect, for ranking within a severity (a share or a distance,
            larger is worse).
    """

    severity: Severity
    statement: str
    evidence: Mapping[str, Sequence[str]] = field(default_factory=dict)
    cause: str | None = None
    weight: float = 0.0

    def __str__(self) -> str:
        cause = f" (likely cause: {self.cause})" if self.cause else ""
        return f"{self.statement}{cause}"

    def to_dict(self) -> dict[str, Any]:
        """The finding as JSON-able data."""
        return {
            "severity": str(self.severity),
            "statement": self.statement,
            "evidence": {kind: list(names) for kind, names in self.evidence.items()},
            "cause": self.cause,
        }


def ranked(findings: Iterable[Finding]) -> list[Finding]:
    """``findings`` most severe first, then by weight (largest first); ties keep their order."""
    return sorted(findings, key=lambda f: (f.severity.rank, -f.weight))


def as_dicts(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """The findings as JSON-able data, in their order."""
    return [finding.to_dict() for finding in findings]


def percent(share: float) -> str:
    """A share as findings state it: ``0.903`` → ``90%``, below 10 % one decimal (``2.5%``)."""
    return f"{share:.1%}" if 0 < share < 0.1 else f"{share:.0%}"


def names(items: Sequence[str], limit: int = 5) -> str:
    """A list of names for a sentence: ``a, b and c``; beyond ``limit``, ``… and 3 more``."""
    shown = list(items[:limit])
    rest = len(items) - len(shown)
    if rest:
        return f"{', '.join(shown)} and {rest} more"
    if len(shown) <= 1:
        return "".join(shown)
    return f"{', '.join(shown[:-1])} and {shown[-1]}"
