"""Guards on retraining: whether a trigger may start a run, judged on the model's past runs.

The guards are the monitoring spec's ``retraining.guards``; each refusal names the guard that
refused, so the check run and its notification say why nothing started. They are checked in this
order, the one that needs people first:

- ``max_consecutive_not_promoted``: the last K runs since the model's last promotion produced no
  champion; another run would most likely not either (a promotion, by the loop or by hand, clears
  the streak);
- ``one_in_flight``: a run is still going;
- ``cooldown``: the last run started less than the cooldown ago;
- ``max_runs_per_day`` / ``max_runs_per_week``: the budget of the last 24 hours / 7 days is spent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from mlops_kit.monitoring.spec import RetrainingGuards

IN_FLIGHT_STATES: Final = ("running", "submitted")


@dataclass(frozen=True)
class PastRun:
    """A retraining run of the model as the guards see it.

    Attributes:
        started_at: when it started (UTC).
        state: ``running``, ``submitted`` (followed on a cluster), ``finished`` or ``failed``.
        promoted: whether its candidate became the champion (``None``: not known).
    """

    started_at: datetime
    state: str
    promoted: bool | None = None


@dataclass(frozen=True)
class Refusal:
    """A guard that refused a trigger, and why in one line."""

    guard: str
    message: str


def _streak(past: Sequence[PastRun], last_promotion: datetime | None) -> int:
    """How many of the newest ended runs in a row were not promoted (unknown outcomes skipped)."""
    count = 0
    for run in sorted(past, key=lambda r: r.started_at, reverse=True):
        if last_promotion is not None and run.started_at < last_promotion:
            break
        if run.promoted:
            break
        if run.promoted is False:
            count += 1
    return count


def refusal(
    guards: RetrainingGuards,
    past: Sequence[PastRun],
    now: datetime,
    last_promotion: datetime | None = None,
) -> Refusal | None:
    """The first guard that refuses a new retraining run at ``now`` (``None``: it may start).

    Args:
        guards: the spec's guards.
        past: the model's retraining runs, in any order.
        now: the moment of the decision (UTC).
        last_promotion: when the model's champion last changed by promotion (clears the streak).
    """
    streak = _streak(past, last_promotion)
    limit = guards.max_consecutive_not_promoted
    if limit is not None and streak >= limit:
        return Refusal(
            "max_consecutive_not_promoted",
            f"the last {streak} retraining runs were not promoted (limit {limit}): look at the "
            "data and the gate's reasons; a promotion clears the count",
        )
    going = [run for run in past if run.state in IN_FLIGHT_STATES]
    if guards.one_in_flight and going:
        started = max(run.started_at for run in going)
        return Refusal(
            "one_in_flight", f"a retraining run started {started:%Y-%m-%d %H:%M} UTC is still going"
        )
    if not past:
        return None
    latest = max(run.started_at for run in past)
    hours = guards.cooldown_hours
    if hours is not None and now - latest < timedelta(hours=hours):
        return Refusal(
            "cooldown",
            f"the last retraining run started {latest:%Y-%m-%d %H:%M} UTC, within the cooldown "
            f"of {guards.cooldown} (next allowed {latest + timedelta(hours=hours):%Y-%m-%d %H:%M})",
        )
    for guard, limit, span in (
        ("max_runs_per_day", guards.max_runs_per_day, timedelta(days=1)),
        ("max_runs_per_week", guards.max_runs_per_week, timedelta(days=7)),
    ):
        recent = sum(1 for run in past if now - run.started_at < span)
        if limit is not None and recent >= limit:
            return Refusal(
                guard,
                f"{recent} retraining runs started in the last {span.days * 24} hours (limit {limit})",
            )
    return None
