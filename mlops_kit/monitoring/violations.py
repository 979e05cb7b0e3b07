"""A violation: one number of a check outside its threshold (what checks judge, triggers act on)."""

from __future__ import annotations

from dataclasses import dataclass

from mlops_kit.monitoring.spec import ViolationKind


@dataclass(frozen=True)
class Violation:
    """One number outside its threshold."""

    kind: ViolationKind
    name: str
    subject: str
    """``overall``, ``hour_of_day=3`` or a feature name."""
    value: float
    bound: str
    """The broken bound, as the spec states it (``min 0.75``, ``max_drop 0.05 from 0.91``)."""
    evidence: tuple[str, ...] = ()
    """What else is known about a violated slice value (its training rows, the drift and health
    of its inputs), one line each; see :mod:`~mlops_kit.monitoring.evidence`."""

    def __str__(self) -> str:
        return f"{self.name} {self.value:.4g} breaks {self.bound} on {self.subject}"
