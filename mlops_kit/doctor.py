"""Health checks of every role of an environment."""

from __future__ import annotations

from dataclasses import dataclass

from mlops_kit.backends import redact_uri
from mlops_kit.environments import ROLES
from mlops_kit.errors import MlopsKitError
from mlops_kit.kit import Kit
from mlops_kit.registries import REGISTRIES


@dataclass(frozen=True)
class RoleCheck:
    """The outcome of checking one role."""

    role: str
    uri: str
    ok: bool
    detail: str


def run_checks(kit: Kit) -> list[RoleCheck]:
    """Check each role of ``kit``'s environment, in order, creating the local twin on first use.

    A failing role does not stop the others from being checked.
    """
    results = []
    for role in ROLES:
        uri = getattr(kit.environment, role)
        try:
            # Going through the kit migrates the local twin's database before it is checked.
            backend = kit.metadata if role == "metadata" else REGISTRIES[role].open(uri)
            detail, ok = backend.check(), True
        except MlopsKitError as exc:
            detail, ok = str(exc), False
        results.append(RoleCheck(role=role, uri=redact_uri(uri), ok=ok, detail=detail))
    return results
