"""Metadata of monitoring: one ``monitoring_runs`` row per check, one measurement row per number.

Measurements are stored one per row (metric, drift or health value of a slice or feature, with its
interval and whether it broke the spec) so that trends over runs are plain SQL queries.
``triggered_runs`` holds each run a trigger started, once per cause: its unique key is what makes a
retried or duplicated trigger start nothing twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mlops_kit.db.models import Base, one_of, utcnow

MEASUREMENT_KINDS = ("metric", "drift", "health", "coverage")
TRIGGERED_KINDS = ("retraining", "check")
TRIGGERED_STATES = ("running", "submitted", "finished", "failed")


class MonitoringRun(Base):
    """One evaluation of a monitoring spec against a model version's logged predictions."""

    __tablename__ = "monitoring_runs"
    __table_args__ = (
        sa.Index("ix_monitoring_runs_model", "model_name", "model_version", "created_at"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    model_name: Mapped[str] = mapped_column(sa.String(200))
    model_version: Mapped[int] = mapped_column(sa.Integer)
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    passed: Mapped[bool] = mapped_column(sa.Boolean)
    violation_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    labelled_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    spec: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    violations: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    retraining_handler: Mapped[str | None] = mapped_column(sa.String(100), default=None)
    retraining_result: Mapped[str | None] = mapped_column(sa.Text, default=None)
    """What the handler returned (a run id), or the error that stopped it."""
    triggers: Mapped[list[dict[str, Any]]] = mapped_column(
        sa.JSON, default=list, server_default="[]"
    )
    """Each trigger the check found (cause, outcome: started, duplicate, refused with its guard)."""
    notifications: Mapped[list[dict[str, Any]]] = mapped_column(
        sa.JSON, default=list, server_default="[]"
    )
    """Each notification sent: channel, event, whether it was delivered and why not."""

    measurements: Mapped[list[MonitoringMeasurement]] = relationship(
        passive_deletes=True, order_by="MonitoringMeasurement.id"
    )


class MonitoringMeasurement(Base):
    """One number of a run: a metric of a slice, or a drift or health value of a feature."""

    __tablename__ = "monitoring_measurements"
    __table_args__ = (one_of("kind", MEASUREMENT_KINDS),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(
        sa.ForeignKey("monitoring_runs.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(16))
    name: Mapped[str] = mapped_column(sa.String(40))
    """``accuracy``, ``psi``, ``null_rate``, ``share`` ..."""
    subject: Mapped[str] = mapped_column(sa.String(200))
    """The slice (``hour_of_day=3``, ``overall``) or the feature the number is about."""
    value: Mapped[float | None] = mapped_column(sa.Float, default=None)
    lower: Mapped[float | None] = mapped_column(sa.Float, default=None)
    upper: Mapped[float | None] = mapped_column(sa.Float, default=None)
    count: Mapped[int | None] = mapped_column(sa.Integer, default=None)
    violated: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class TriggeredRun(Base):
    """A run a trigger started: a retraining run, or the follow-up check of a promotion.

    ``(model_name, cause)`` is unique: the row is inserted before the run starts, so a retried or
    duplicated trigger for the same cause finds it and starts nothing.
    """

    __tablename__ = "triggered_runs"
    __table_args__ = (
        sa.UniqueConstraint("model_name", "cause"),
        one_of("kind", TRIGGERED_KINDS),
        one_of("state", TRIGGERED_STATES),
        sa.Index("ix_triggered_runs_model", "model_name", "kind", "started_at"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    model_name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(16))
    cause: Mapped[str] = mapped_column(sa.String(300))
    """``violations:...`` (version, window, digest of the violation set), ``new_data:NAME@V`` or
    ``promotion:NAME@V:TIME``."""
    check_run_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("monitoring_runs.id", ondelete="SET NULL"), default=None
    )
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    state: Mapped[str] = mapped_column(sa.String(16), default="running")
    reference: Mapped[str | None] = mapped_column(sa.Text, default=None)
    """What the handler returned (a run id and the gate's decision), or the error."""
    run_id: Mapped[str | None] = mapped_column(sa.String(300), default=None)
    """The orchestrator's run id, while the run is followed there."""
    promoted: Mapped[bool | None] = mapped_column(sa.Boolean, default=None)
    """Whether the run's candidate became the champion (``None``: not known)."""
