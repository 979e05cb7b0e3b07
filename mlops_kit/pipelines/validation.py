"""Validating a new data version against the previous one, before anything trains on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_kit.errors import IntegrityError

if TYPE_CHECKING:
    from mlops_kit.kit import Kit


@dataclass(frozen=True)
class ValidationResult:
    """What changed between a data version and the one before it.

    Attributes:
        ref: the validated version.
        previous: the version it was compared with (``None`` for the first version).
        breaks: the breaking changes, one line each (removed or retyped columns, values that do
            not conform to their column's type); empty when the version is safe to train on.
        summary: the diff summary (JSON-able), or a note when there was nothing to compare.
    """

    ref: str
    previous: str | None
    breaks: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        """One line for people."""
        if self.previous is None:
            return f"{self.ref} is the first version: nothing to compare"
        if self.breaks:
            return f"{self.ref} breaks {self.previous}: " + "; ".join(self.breaks)
        added = [c["name"] for c in self.summary.get("schema", {}).get("added", [])]
        extra = f", added columns {', '.join(added)}" if added else ""
        return f"{self.ref} conforms to {self.previous}{extra}"

    def raise_if_breaking(self) -> None:
        """Raise when the version must not be trained on.

        Raises:
            IntegrityError: the version has breaking changes.
        """
        if self.breaks:
            raise IntegrityError(
                self.message + f" (inspect with `mlops-kit data diff {self.previous} {self.ref}`)"
            )


def validate_version(kit: Kit, ref: str) -> ValidationResult:
    """Diff version ``ref`` of a dataset with the version before it.

    Raises:
        NotFoundError: the version does not exist.
    """
    from mlops_kit import data

    version = data.get_version(kit, ref)
    earlier = [v for v in data.list_versions(kit, version.name) if v.version < version.version]
    if not earlier:
        return ValidationResult(version.ref, None, summary={"first_version": True})
    previous = max(earlier, key=lambda v: v.version)
    result = data.diff(kit, previous.ref, version.ref)
    schema = result.summary["schema"]
    breaks = [f"column {c['name']} removed" for c in schema["removed"]]
    breaks += [f"column {c['name']} retyped {c['from']}→{c['to']}" for c in schema["retyped"]]
    for name, item in result.summary.get("conformance", {}).items():
        if item["nonconforming"]:
            examples = ", ".join(repr(value) for value, _ in item["examples"][:3])
            breaks.append(
                f"{name} has {item['nonconforming']} of {item['checked']} values that are not "
                f"{item['expected']} (e.g. {examples})"
            )
    return ValidationResult(version.ref, previous.ref, breaks, result.summary)
