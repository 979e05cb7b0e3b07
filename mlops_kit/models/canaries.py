"""Canaries: a new version takes a share of an alias's traffic while its predictions are checked.

A canary does not move the alias: its start (``canary``: the version and its share) and its end
without promotion (``withdraw``) are appended to the alias history beside the moves, so the history
tells who tried which version on how much traffic, and why it was promoted or withdrawn. A canary
runs from its ``canary`` event until the alias's next event that moves it or withdraws the canary;
every serving process of the alias reads it with :func:`running_canary`.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlops_kit.errors import ConfigError, ConflictError
from mlops_kit.kit import Kit
from mlops_kit.models.aliases import (
    MOVES,
    AliasEvent,
    append_event,
    check_reason,
    history,
    propose,
)
from mlops_kit.models.lookup import model_row
from mlops_kit.models.names import as_ref, check_alias, check_model_name


@dataclass(frozen=True)
class Canary:
    """A version taking a share of an alias's traffic beside its holder."""

    version: int
    traffic_share: float
    started: AliasEvent


def running_canary(kit: Kit, name: str, alias: str) -> Canary | None:
    """The canary of ``NAME@ALIAS``, if one runs.

    Raises:
        NotFoundError: the model does not exist.
    """
    for event in reversed(history(kit, check_model_name(name), check_alias(alias))):
        if event.action == "canary":
            return Canary(event.to_version, event.traffic_share or 0.0, event)
        if event.action in (*MOVES, "withdraw"):
            return None
    return None


def start_canary(
    kit: Kit, ref: str, alias: str, traffic_share: float, reason: str, *, actor: str | None = None
) -> AliasEvent:
    """Record that the ready version ``ref`` takes ``traffic_share`` of ``alias``'s traffic.

    Raises:
        NotFoundError: the model or version does not exist or is not ready, or the alias has no
            holder to share the traffic with.
        ConflictError: the version holds the alias already.
        ConfigError: the share is not between 0 and 1, the alias name is invalid or the reason
            empty.
    """
    if not 0.0 < traffic_share < 1.0:
        raise ConfigError(
            f"a canary takes a share of the traffic between 0 and 1, not {traffic_share}"
        )
    parsed = as_ref(ref)
    check_alias(alias)
    reason = check_reason(reason)
    return propose(kit, parsed, alias, "canary", reason, actor, traffic_share)


def withdraw_canary(
    kit: Kit, name: str, alias: str, reason: str, *, actor: str | None = None
) -> AliasEvent:
    """Record that the canary of ``NAME@ALIAS`` leaves the traffic; the holder takes all of it.

    Raises:
        NotFoundError: the model does not exist.
        ConflictError: no canary runs on the alias.
        ConfigError: the reason is empty.
    """
    reason = check_reason(reason)
    canary = running_canary(kit, name, alias)
    if canary is None:
        raise ConflictError(f"no canary runs on {name}@{alias}: nothing to withdraw")
    with kit.metadata.session() as session:
        model = model_row(session, name, for_update=True)
        # The holder takes the canary's traffic back: the event goes from the canary to it.
        versions = (canary.version, canary.started.from_version or canary.version)
        return append_event(session, model, alias, "withdraw", versions, reason, actor)
