"""Protected aliases: promoting to one takes a request and the approval of someone else.

An environment lists its protected aliases (``protected_aliases: [production]``). On those,
:func:`request_promotion` moves nothing: it appends a ``request`` event to the alias history
(who asks, for which version, why). :func:`approve` by anyone other than the requester moves the
alias, recorded as an ``approve`` event by the approver with the request's reason, so the history
names both people. A newer move of the alias (a rollback, another approval) supersedes a pending
request; a newer request replaces it. Rollback stays one step: going back to a version that was
approved before needs no second person.
"""

from __future__ import annotations

from sqlalchemy import select

from mlops_kit.db.models.registry import ModelAliasEvent
from mlops_kit.errors import ConflictError, NotFoundError
from mlops_kit.kit import Kit
from mlops_kit.models.aliases import (
    MOVES,
    AliasEvent,
    check_reason,
    history,
    move_alias,
    promote,
    propose,
)
from mlops_kit.models.lookup import model_row, version_row
from mlops_kit.models.names import ModelRef, as_ref, check_alias, check_model_name
from mlops_kit.provenance import current_user


def is_protected(kit: Kit, alias: str) -> bool:
    """Whether moving ``alias`` forward in ``kit``'s environment needs an approval."""
    return alias in kit.environment.protected_aliases


def request_promotion(
    kit: Kit, ref: ModelRef | str, alias: str, reason: str, *, actor: str | None = None
) -> AliasEvent:
    """Promote ``ref`` to ``alias``, or, if the alias is protected, ask for the promotion.

    Returns:
        The ``promote`` event, or the ``request`` event that awaits :func:`approve`.

    Raises:
        NotFoundError: the model or version does not exist, or the version is not ready.
        ConflictError: the version already holds the alias.
        ConfigError: the alias name is invalid or the reason empty.
    """
    if not is_protected(kit, check_alias(alias)):
        return promote(kit, ref, alias, reason, actor=actor)
    return propose(kit, as_ref(ref), alias, "request", check_reason(reason), actor)


def pending_request(kit: Kit, name: str, alias: str) -> AliasEvent | None:
    """The request awaiting approval on ``NAME@ALIAS``, if its latest event is one."""
    # A canary starting or ending meanwhile neither grants nor withdraws the request.
    events = [
        e
        for e in history(kit, check_model_name(name), check_alias(alias))
        if e.action in (*MOVES, "request")
    ]
    return events[-1] if events and events[-1].action == "request" else None


def approve(kit: Kit, name: str, alias: str, *, actor: str | None = None) -> AliasEvent:
    """Approve the pending promotion of ``NAME@ALIAS``: the alias moves to the requested version.

    Raises:
        NotFoundError: no promotion of the alias awaits approval.
        ConflictError: the approver is the requester (nothing is recorded), or the requested
            version already holds the alias.
    """
    check_model_name(name)
    check_alias(alias)
    approver = actor or current_user()
    with kit.metadata.session() as session:
        model = model_row(session, name, for_update=True)
        latest = session.scalars(
            select(ModelAliasEvent)
            .where(ModelAliasEvent.model_id == model.id, ModelAliasEvent.alias == alias)
            .order_by(ModelAliasEvent.id.desc())
            .limit(1)
        ).first()
        if latest is None or latest.action != "request":
            raise NotFoundError(
                f"no promotion of {name}@{alias} awaits approval: request one with "
                f"`mlops-kit models promote {name}@VERSION --alias {alias} --reason ...`"
            )
        if latest.actor == approver:
            raise ConflictError(
                f"{approver} requested {name}@{latest.to_version} for {alias!r} and cannot approve "
                "it too: someone else must run `mlops-kit models approve "
                f"{name} --alias {alias}`"
            )
        target = version_row(session, ModelRef(name, version=latest.to_version))
        reason = f"{latest.reason} (requested by {latest.actor})"
        return move_alias(session, model, alias, target, "approve", reason, approver)
