"""Aliases (``champion``, ``production``): which version is live, every move audited.

An alias belongs to one version of a model at a time. :func:`promote` and :func:`rollback` move it in
one transaction that locks the model row and appends an :class:`AliasEvent` (who, when, why, from →
to), so the history answers which version was live at any moment.

Rollback walks the promotions back: promotions push holders on a stack, rollbacks pop it, so two
rollbacks in a row after promoting 1, 2, 3 go to 2, then to 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mlops_kit.db.models import utcnow
from mlops_kit.db.models.registry import (
    ModelAlias,
    ModelAliasEvent,
    ModelVersionRow,
    RegisteredModel,
)
from mlops_kit.errors import ConfigError, ConflictError, NotFoundError
from mlops_kit.kit import Kit
from mlops_kit.models.lookup import as_utc, full_version, model_row, version_row
from mlops_kit.models.names import LATEST, ModelRef, as_ref, check_alias, check_model_name
from mlops_kit.provenance import current_user

MOVES = ("promote", "approve", "rollback")
"""The actions that move an alias; the others (``request``, ``canary``, ``withdraw``) record."""


@dataclass(frozen=True)
class AliasEvent:
    """One movement of an alias."""

    model: str
    alias: str
    action: str
    """``promote``, ``rollback``, ``request`` (of a protected alias; it moves nothing),
    ``approve`` (the requested promotion, by its approver), ``canary`` (``to_version`` takes
    ``traffic_share`` of the traffic beside the holder; the alias does not move) or ``withdraw``
    (the canary ``from_version`` leaves the traffic)."""
    from_version: int | None
    to_version: int
    actor: str
    reason: str
    at: datetime
    traffic_share: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self) | {"at": self.at.isoformat()}


def _event(model: str, row: ModelAliasEvent) -> AliasEvent:
    return AliasEvent(
        model,
        row.alias,
        row.action,
        row.from_version,
        row.to_version,
        row.actor,
        row.reason,
        as_utc(row.at),
        row.traffic_share,
    )


def check_reason(reason: str) -> str:
    """``reason`` stripped.

    Raises:
        ConfigError: it is empty.
    """
    reason = reason.strip()
    if not reason:
        raise ConfigError("a reason is required: say why the alias moves (it is kept in history)")
    return reason


def append_event(
    session: Session,
    model: RegisteredModel,
    alias: str,
    action: str,
    versions: tuple[int | None, int],
    reason: str,
    actor: str | None,
    traffic_share: float | None = None,
) -> AliasEvent:
    """Append ``action`` on ``alias`` to the history, in ``session``; it moves nothing itself.

    ``versions`` are the version the action goes from (``None`` for an alias nobody held) and the
    one it goes to; ``actor`` defaults to the operating-system user.
    """
    from_version, to_version = versions
    event = ModelAliasEvent(
        model_id=model.id,
        alias=alias,
        action=action,
        from_version=from_version,
        to_version=to_version,
        actor=actor or current_user(),
        reason=reason,
        at=utcnow(),
        traffic_share=traffic_share,
    )
    session.add(event)
    session.flush()
    return _event(model.name, event)


def move_alias(
    session: Session,
    model: RegisteredModel,
    alias: str,
    target: ModelVersionRow,
    action: str,
    reason: str,
    actor: str | None,
) -> AliasEvent:
    """Point ``alias`` at ``target`` and append the ``action`` to the history, in ``session``.

    Raises:
        ConflictError: ``target`` already holds the alias.
    """
    holder = session.scalars(
        select(ModelAlias).where(ModelAlias.model_id == model.id, ModelAlias.alias == alias)
    ).first()
    from_version: int | None = None
    if holder is None:
        session.add(ModelAlias(model_id=model.id, alias=alias, version_id=target.id))
    else:
        if holder.version_id == target.id:
            raise ConflictError(
                f"{model.name}@{alias} already is version {target.version}: nothing to move"
            )
        from_version = session.get_one(ModelVersionRow, holder.version_id).version
        holder.version_id = target.id
        holder.updated_at = utcnow()
    return append_event(
        session, model, alias, action, (from_version, target.version), reason, actor
    )


def check_proposal(name: str, alias: str, action: str, holder: int | None, version: int) -> None:
    """Refuse a ``request`` or a ``canary`` of ``NAME@VERSION`` for ``alias``, held by ``holder``.

    :func:`propose` checks it where it records the proposal; a deploy target checks a canary
    before its platform starts one.

    Raises:
        NotFoundError: the alias of a canary has no holder.
        ConflictError: the version holds the alias already.
    """
    if holder is None and action == "canary":
        raise NotFoundError(
            f"{name}@{alias} serves nothing yet: deploy a version to all of its traffic "
            "before a canary"
        )
    if holder == version:
        verb = "ask" if action == "request" else action
        raise ConflictError(f"{name}@{alias} already is version {holder}: nothing to {verb}")


def propose(
    kit: Kit,
    ref: ModelRef,
    alias: str,
    action: str,
    reason: str,
    actor: str | None,
    traffic_share: float | None = None,
) -> AliasEvent:
    """Append a ``request`` or a ``canary`` of the ready version ``ref`` for ``alias``.

    Neither moves the alias. A canary takes a share of the holder's traffic, so it needs a holder.

    Raises:
        NotFoundError: the model or version does not exist or is not ready, or the alias of a
            canary has no holder.
        ConflictError: the version holds the alias already.
    """
    with kit.metadata.session() as session:
        model = model_row(session, ref.name, for_update=True)
        target = version_row(session, ref)
        holder = session.scalars(
            select(ModelVersionRow.version)
            .join(ModelAlias, ModelAlias.version_id == ModelVersionRow.id)
            .where(ModelAlias.model_id == model.id, ModelAlias.alias == alias)
        ).first()
        check_proposal(ref.name, alias, action, holder, target.version)
        versions = (holder, target.version)
        return append_event(session, model, alias, action, versions, reason, actor, traffic_share)


def promote(
    kit: Kit, ref: ModelRef | str, alias: str, reason: str, *, actor: str | None = None
) -> AliasEvent:
    """Point ``alias`` of the model at the ready version ``ref`` (creating the alias if new).

    Raises:
        NotFoundError: the model or version does not exist.
        ConflictError: the version is not ready (pending or failed), or already holds the alias,
            or the alias is protected (see :func:`~mlops_kit.models.request_promotion`).
        ConfigError: ``ref`` is a bare name or ``@latest`` (no chosen version),
            the alias name is invalid or the reason empty.
        IntegrityError: the version's artifact is missing or corrupt.
    """
    ref = as_ref(ref)
    if ref.alias == LATEST:
        # A bare name means the newest version: promoting whatever happens to be newest is not a
        # decision anyone made.
        raise ConfigError(
            f"promote needs the version to promote: give {ref.name}@VERSION (or @ALIAS), "
            f"e.g. `mlops-kit models promote {ref.name}@3 --alias {alias}`"
        )
    check_alias(alias)
    reason = check_reason(reason)
    if alias in kit.environment.protected_aliases:
        raise ConflictError(
            f"alias {alias!r} is protected in environment {kit.environment.name!r}: request the "
            f"promotion (`mlops-kit models promote {ref} --alias {alias}`) and have someone else "
            f"approve it (`mlops-kit models approve {ref.name} --alias {alias}`)"
        )
    with kit.metadata.session() as session:
        model = model_row(session, ref.name, for_update=True)
        target = version_row(session, ref, ready_only=False)
        if target.status != "ready":
            raise ConflictError(
                f"version {ref.name}@{target.version} is {target.status.upper()}: only a READY "
                "version can hold an alias"
            )
        # Like a rollback, a promotion only points an alias at an artifact that is intact.
        for stored in full_version(session, target, ref.name).stored_objects():
            kit.artifacts.verify(stored)
        return move_alias(session, model, alias, target, "promote", reason, actor)


def _holder_stack(session: Session, model_id: int, alias: str) -> list[int]:
    stack: list[int] = []
    events = session.scalars(
        select(ModelAliasEvent)
        .where(ModelAliasEvent.model_id == model_id, ModelAliasEvent.alias == alias)
        .order_by(ModelAliasEvent.id)
    )
    for event in events:
        if event.action in ("promote", "approve"):
            stack.append(event.to_version)
        elif event.action == "rollback":
            while stack and stack[-1] != event.to_version:
                stack.pop()
    return stack


def rollback(
    kit: Kit,
    name: str,
    alias: str,
    *,
    reason: str,
    to: int | None = None,
    actor: str | None = None,
) -> AliasEvent:
    """Move ``alias`` back to its previous holder (or to the earlier holder ``to``).

    The target's artifact is verified first (every file present with its recorded size and checksum):
    rolling back to a version that cannot be served would make things worse.

    Raises:
        NotFoundError: the model or alias does not exist.
        ConflictError: the alias has no previous holder, or ``to`` never held it.
        IntegrityError: the target's artifact is missing or altered; the alias does not move.
    """
    check_model_name(name)
    check_alias(alias)
    reason = check_reason(reason)
    with kit.metadata.session() as session:
        model = model_row(session, name, for_update=True)
        stack = _holder_stack(session, model.id, alias)
        if not stack:
            raise NotFoundError(
                f"model {name!r} has no alias {alias!r}: nothing to roll back "
                f"(set it with `mlops-kit models promote {name}@VERSION --alias {alias}`)"
            )
        earlier = stack[:-1]
        if to is None:
            if not earlier:
                raise ConflictError(
                    f"{name}@{alias} has no previous holder to roll back to (it was only ever "
                    f"version {stack[-1]}): promote the version you want instead"
                )
            target_version = earlier[-1]
        elif to in earlier:
            target_version = to
        else:
            held = ", ".join(map(str, earlier)) or "none"
            raise ConflictError(
                f"version {to} is not an earlier holder of {name}@{alias} (earlier holders: "
                f"{held}): use `mlops-kit models promote {name}@{to} --alias {alias}`"
            )
        target = version_row(session, ModelRef(name, version=target_version))
        for stored in full_version(session, target, name).stored_objects():
            kit.artifacts.verify(stored)
        return move_alias(session, model, alias, target, "rollback", reason, actor)


def history(kit: Kit, name: str, alias: str | None = None) -> list[AliasEvent]:
    """Every movement of the model's aliases (or of ``alias``), oldest first.

    Raises:
        NotFoundError: the model does not exist.
    """
    check_model_name(name)
    with kit.metadata.session() as session:
        model = model_row(session, name)
        query = select(ModelAliasEvent).where(ModelAliasEvent.model_id == model.id)
        if alias is not None:
            query = query.where(ModelAliasEvent.alias == check_alias(alias))
        return [_event(name, row) for row in session.scalars(query.order_by(ModelAliasEvent.id))]


def holder_at(kit: Kit, name: str, alias: str, at: datetime) -> int | None:
    """The version that held ``alias`` at the moment ``at`` (``None`` before its first promotion)."""
    holder: int | None = None
    for event in history(kit, name, alias):
        if event.at > at:
            break
        if event.action in MOVES:
            holder = event.to_version
    return holder
