"""Metadata of monitoring: one ``monitoring_runs`` row per check, one measurement row per number.

Measurements are stored one per row (metric, drift or health value of a slice or feature, with its
interval and whether it broke the spec) so that trends over runs are plain SQL queries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mlops_kit.db.models import Base, utcnow

MEASUREMENT_KINDS = ("metric", "drift", "health", "coverage")


class MonitoringRun(Base):
    """One evaluation of a monitoring spec against a model version's logged predictions."""

    __tablename__ = "monitoring_runs"
    __table_args__ = (
        Index("ix_monitoring_runs_model", "model_name", "model_version", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    passed: Mapped[bool] = mapped_column(Boolean)
    violation_count: Mapped[int] = mapped_column(Integer, default=0)
    labelled_count: Mapped[int] = mapped_column(Integer, default=0)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    violations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    retraining_handler: Mapped[str | None] = mapped_column(String(100), default=None)
    retraining_result: Mapped[str | None] = mapped_column(Text, default=None)
    """What the handler returned (a run id), or the error that stopped it."""

    measurements: Mapped[list[MonitoringMeasurement]] = relationship(
        passive_deletes=True, order_by="MonitoringMeasurement.id"
    )


class MonitoringMeasurement(Base):
    """One number of a run: a metric of a slice, or a drift or health value of a feature."""

    __tablename__ = "monitoring_measurements"
    __table_args__ = (
        CheckConstraint("kind IN ('metric', 'drift', 'health', 'coverage')", name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("monitoring_runs.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(40))
    """``accuracy``, ``psi``, ``null_rate``, ``share`` ..."""
    subject: Mapped[str] = mapped_column(String(200))
    """The slice (``hour_of_day=3``, ``overall``) or the feature the number is about."""
    value: Mapped[float | None] = mapped_column(Float, default=None)
    lower: Mapped[float | None] = mapped_column(Float, default=None)
    upper: Mapped[float | None] = mapped_column(Float, default=None)
    count: Mapped[int | None] = mapped_column(Integer, default=None)
    violated: Mapped[bool] = mapped_column(Boolean, default=False)
