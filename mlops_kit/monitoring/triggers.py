"""What a stored check run sets off: retraining triggers, their guards, follow-up checks, notices.

Triggers, each with a cause key that names it exactly:

- ``violations``: violations of the kinds in ``retraining.on``; the key holds the watched version,
  the window and a digest of the violation set, so a retried check of the same window has the
  same key while tomorrow's check of a new window has another;
- ``new_data`` (``retraining.on_new_data``): a version of the training dataset newer than every
  version the model's newest version was trained on; the key is that data version;
- ``promotion`` (``retraining.check_after_promotion``): the first check of a promoted version with
  enough logged predictions is its follow-up check; the key is the promotion.

One check starts at most one retraining run: the first trigger's; the others join its reasons.
Before anything starts, the cause is looked up (a duplicate starts nothing), then the guards are
asked (:mod:`mlops_kit.monitoring.guards`), then the cause is claimed by inserting its row: the
unique ``(model_name, cause)`` of ``triggered_runs`` makes two checks racing on one cause start
one run. Every outcome is recorded on the check run and notified.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from mlops_kit.errors import BackendError, MlopsKitError, NotFoundError
from mlops_kit.monitoring.guards import PastRun, refusal
from mlops_kit.monitoring.notifications import Event
from mlops_kit.monitoring.retraining import HandlerResult, RetrainingRequest, request_retraining
from mlops_kit.orchestrators import ENDED_STATES

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mlops_kit.kit import Kit
    from mlops_kit.monitoring.report import MonitoringReport
    from mlops_kit.monitoring.spec import MonitoringSpec
    from mlops_kit.monitoring.violations import Violation

_PROMOTIONS = ("promote", "approve")


@dataclass(frozen=True)
class Trigger:
    """A reason to start a retraining run, named by its cause key."""

    kind: Literal["violations", "new_data"]
    cause: str
    reasons: list[str]
    violations: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class LoopOutcome:
    """What the check set off: trigger records, the retraining run and its result, events."""

    triggers: list[dict[str, Any]] = field(default_factory=list)
    handler: str | None = None
    result: str | None = None
    events: list[Event] = field(default_factory=list)


def violation_cause(report: MonitoringReport, violations: Sequence[Violation]) -> str:
    """The cause key of a violation set: version, window and a digest of what broke."""
    broken = sorted(f"{v.kind}:{v.name}:{v.subject}" for v in violations)
    digest = hashlib.sha256("\n".join(broken).encode()).hexdigest()[:16]
    window = f"{report.window.start:%Y%m%dT%H%M}-{report.window.end:%Y%m%dT%H%M}"
    return f"violations:{report.model.version}:{window}:{digest}"


def new_data_trigger(kit: Kit, report: MonitoringReport) -> Trigger | None:
    """A trigger when the training dataset has a version the model's newest version did not see."""
    from mlops_kit import data, models
    from mlops_kit.data.refs import DatasetRef

    if not report.model.training_data:
        return None
    name = DatasetRef.parse(report.model.training_data[0]).name
    newest_model = models.get_version(kit, f"{report.model.name}@latest")
    seen = [
        ref.version or 0 for ref in map(DatasetRef.parse, newest_model.datasets) if ref.name == name
    ]
    versions = data.list_versions(kit, name)
    if not versions or versions[-1].version <= max(seen, default=0):
        return None
    newest = f"{name}@{versions[-1].version}"
    return Trigger(
        "new_data",
        f"new_data:{newest}",
        [
            f"new data version {newest} (the newest model version {newest_model.ref} saw "
            f"{', '.join(newest_model.datasets) or 'none'})"
        ],
    )


def _promotions(kit: Kit, model: str) -> list[Any]:
    """The model's promotions, oldest first (none for a model the registry does not hold)."""
    from mlops_kit import models

    try:
        history = models.history(kit, model)
    except NotFoundError:
        return []
    return [event for event in history if event.action in _PROMOTIONS]


def _past_runs(session: Session, model: str) -> list[Any]:
    from sqlalchemy import select

    from mlops_kit.db.models.monitoring import TriggeredRun

    return list(
        session.scalars(
            select(TriggeredRun).where(
                TriggeredRun.model_name == model, TriggeredRun.kind == "retraining"
            )
        )
    )


def _ended_states(kit: Kit, run_ids: Iterable[str]) -> dict[str, str]:
    """The state of each run of ``run_ids`` that is over, polled by its id.

    A run the orchestrator cannot be asked about (unreachable, or a run it does not know) is
    left out, as one still going: refusing a run for a while is safer than starting a second one.
    """
    ended = {}
    for run_id in run_ids:
        try:
            state = kit.orchestrator.poll(run_id, kit.environment.pipeline_root).state
        except MlopsKitError:
            continue
        if state in ENDED_STATES:
            ended[run_id] = state
    return ended


def follow_runs(kit: Kit, model: str, now: datetime, check_run_id: int) -> list[Event]:
    """Update the runs followed on the orchestrator; a run that ended is no longer in flight.

    Each run is polled by its id (:meth:`~mlops_kit.orchestrators.Orchestrator.poll`), so it is
    found however many other runs the orchestrator keeps. Whether its candidate was promoted is
    read from the alias history (a promotion after the run started). A run the orchestrator
    cannot be asked about stays in flight.

    Returns:
        A promotion event for each followed run whose candidate was promoted.
    """
    from mlops_kit.models.lookup import as_utc

    with kit.metadata.session() as session:
        followed = {
            run.id: run.run_id
            for run in _past_runs(session, model)
            if run.state == "submitted" and run.run_id
        }
    # Neither the orchestrator's answers nor the registry are awaited inside a transaction.
    states = _ended_states(kit, set(followed.values()))
    if not states:
        return []
    promotions = _promotions(kit, model)
    events = []
    with kit.metadata.session() as session:
        for run in _past_runs(session, model):
            if run.id not in followed or run.run_id not in states:
                continue
            after = [event for event in promotions if event.at >= as_utc(run.started_at)]
            run.state = "finished" if states[run.run_id] == "SUCCEEDED" else "failed"
            run.finished_at = now
            run.promoted = run.state == "finished" and bool(after)
            if run.promoted:
                events.append(_promotion_event(after[-1], run.run_id, check_run_id))
    return events


def _promotion_event(promotion: Any, run: str, check_run_id: int) -> Event:
    return Event(
        "promotion",
        f"{promotion.model}@{promotion.to_version} became {promotion.alias} after retraining "
        f"run {run}: {promotion.reason}",
        promotion.model,
        promotion.to_version,
        check_run_id,
        {
            "alias": promotion.alias,
            "from_version": promotion.from_version,
            "to_version": promotion.to_version,
            "reason": promotion.reason,
        },
    )


def _as_past(run: Any) -> PastRun:
    from mlops_kit.models.lookup import as_utc

    return PastRun(as_utc(run.started_at), run.state, run.promoted)


@dataclass(frozen=True)
class _Check:
    """The stored check run a trigger belongs to."""

    kit: Kit
    report: MonitoringReport
    spec: MonitoringSpec
    run_id: int
    now: datetime

    @property
    def model(self) -> str:
        return self.report.model.name

    def event(self, kind: Any, text: str, **details: Any) -> Event:
        return Event(
            kind,
            f"{self.report.model.ref}: {text}",
            self.model,
            self.report.model.version,
            self.run_id,
            details,
        )


def _claimed(check: _Check, cause: str) -> Any:
    from sqlalchemy import select

    from mlops_kit.db.models.monitoring import TriggeredRun

    with check.kit.metadata.session() as session:
        return session.scalars(
            select(TriggeredRun).where(
                TriggeredRun.model_name == check.model, TriggeredRun.cause == cause
            )
        ).one_or_none()


def _claim(check: _Check, kind: str, cause: str) -> int | None:
    """Insert the cause's row; ``None`` when another check claimed it first.

    Raises:
        BackendError: the insert failed for another reason than the cause being taken.
    """
    from mlops_kit.db.models.monitoring import TriggeredRun

    try:
        with check.kit.metadata.session() as session:
            row = TriggeredRun(
                model_name=check.model,
                kind=kind,
                cause=cause,
                check_run_id=check.run_id,
                started_at=check.now,
            )
            session.add(row)
            session.flush()
            return row.id
    except BackendError:
        # The unique (model_name, cause) refused the row: whoever inserted it first started the run.
        if _claimed(check, cause) is not None:
            return None
        raise


def _refused(check: _Check) -> Any:
    from mlops_kit.models.lookup import as_utc

    with check.kit.metadata.session() as session:
        past = [_as_past(run) for run in _past_runs(session, check.model)]
    promotions = [as_utc(event.at) for event in _promotions(check.kit, check.model)]
    return refusal(check.spec.retraining.guards, past, check.now, max(promotions, default=None))


def _start(
    check: _Check, trigger: Trigger, others: Sequence[Trigger], outcome: LoopOutcome
) -> None:
    """Start the retraining run of ``trigger`` unless it is a duplicate or a guard refuses it."""
    record: dict[str, Any] = {"kind": trigger.kind, "cause": trigger.cause}
    outcome.triggers.append(record)
    outcome.triggers += [
        {"kind": other.kind, "cause": other.cause, "outcome": "joined", "joined": trigger.cause}
        for other in others
    ]
    existing = _claimed(check, trigger.cause)
    if existing is not None:
        record |= {"outcome": "duplicate", "message": f"already started: {existing.reference}"}
        return
    refused = _refused(check)
    if refused is not None:
        record |= {"outcome": "refused", "guard": refused.guard, "message": refused.message}
        outcome.events.append(
            check.event(
                "refused",
                f"retraining ({trigger.kind}) refused by guard {refused.guard}: {refused.message}",
                trigger=trigger.kind,
                cause=trigger.cause,
                guard=refused.guard,
            )
        )
        return
    claimed = _claim(check, "retraining", trigger.cause)
    if claimed is None:
        record |= {"outcome": "duplicate", "message": "started by a check running at the same time"}
        return
    record["outcome"] = "started"
    _run_handler(check, claimed, [trigger, *others], outcome)


def _run_handler(
    check: _Check, claimed: int, triggers: Sequence[Trigger], outcome: LoopOutcome
) -> None:
    from mlops_kit.db.models.monitoring import TriggeredRun

    handler = check.spec.retraining.handler
    assert handler is not None
    request = RetrainingRequest(
        model_name=check.model,
        model_version=check.report.model.version,
        reasons=[reason for trigger in triggers for reason in trigger.reasons],
        check_run_id=check.run_id,
        training_data=list(check.report.model.training_data),
        violations=[v for trigger in triggers for v in trigger.violations],
    )
    try:
        started = request_retraining(check.kit, request, handler)
    except MlopsKitError as exc:
        started, state = HandlerResult(f"failed: {exc}", promoted=False), "failed"
    else:
        state = "submitted" if started.run_id else "finished"
    with check.kit.metadata.session() as session:
        row = session.get(TriggeredRun, claimed)
        assert row is not None
        row.state, row.reference = state, started.reference
        row.run_id, row.promoted = started.run_id, started.promoted
        row.finished_at = None if started.run_id else check.now
    outcome.handler, outcome.result = handler, started.reference
    outcome.events.append(
        check.event(
            "retraining",
            f"retraining ({', '.join(t.kind for t in triggers)}) through {handler!r}: "
            f"{started.reference}",
            handler=handler,
            cause=triggers[0].cause,
            reasons=request.reasons,
            state=state,
        )
    )
    if started.promoted:
        outcome.events.append(
            check.event("promotion", f"retraining promoted a new champion: {started.reference}")
        )


def _follow_up(check: _Check, outcome: LoopOutcome, passed: bool) -> None:
    """Record this check as the follow-up of the watched version's promotion, once it is due."""
    needed = check.spec.retraining.check_after_promotion
    version = check.report.model.version
    promotions = [
        event
        for event in _promotions(check.kit, check.model)
        if event.to_version == version and event.at <= check.now
    ]
    if needed is None or not promotions:
        return
    promotion = promotions[-1]
    cause = f"promotion:{check.model}@{version}:{promotion.at:%Y%m%dT%H%M%S}"
    if _claimed(check, cause) is not None:
        return
    logged = check.report.logged
    record: dict[str, Any] = {"kind": "promotion", "cause": cause}
    outcome.triggers.append(record)
    if logged < needed:
        record |= {"outcome": "waiting", "message": f"{logged} of {needed} predictions logged"}
        return
    if _claim(check, "check", cause) is None:
        record |= {"outcome": "duplicate", "message": "claimed by a check running at the same time"}
        return
    verdict = "passed" if passed else "FAILED"
    record |= {"outcome": "started", "message": f"follow-up check {verdict}"}
    outcome.events.append(
        check.event(
            "promotion",
            f"follow-up check of the promotion to {promotion.alias} "
            f"({promotion.at:%Y-%m-%d %H:%M} UTC) {verdict} on {logged} predictions",
            alias=promotion.alias,
            promoted_at=promotion.at.isoformat(),
            passed=passed,
        )
    )


def act(
    kit: Kit,
    report: MonitoringReport,
    spec: MonitoringSpec,
    run_id: int,
    violations: Sequence[Violation],
    *,
    retrain: bool,
    now: datetime,
) -> LoopOutcome:
    """Everything a stored check run sets off (see the module docstring).

    Returns:
        The trigger records, the retraining handler and its result, and the events to notify.
    """
    from dataclasses import asdict

    check = _Check(kit, report, spec, run_id, now)
    outcome = LoopOutcome(events=follow_runs(kit, check.model, now, run_id))
    if violations:
        listed = "; ".join(str(v) for v in violations[:5])
        more = f" and {len(violations) - 5} more" if len(violations) > 5 else ""
        outcome.events.insert(
            0,
            check.event(
                "violations",
                f"check run {run_id} failed: {len(violations)} violations: {listed}{more}",
                violations=[asdict(v) for v in violations],
            ),
        )
    _follow_up(check, outcome, not violations)
    triggers: list[Trigger] = []
    due = [v for v in violations if v.kind in spec.retraining.on]
    if due:
        triggers.append(
            Trigger(
                "violations",
                violation_cause(report, due),
                [str(v) for v in due],
                [asdict(v) for v in due],
            )
        )
    if spec.retraining.on_new_data and (fresh := new_data_trigger(kit, report)):
        triggers.append(fresh)
    if retrain and triggers and spec.retraining.handler:
        _start(check, triggers[0], triggers[1:], outcome)
    return outcome
