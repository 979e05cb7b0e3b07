"""Continuous training: runs started by triggers, and what each check triggered and notified.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing check runs triggered and notified nothing: an empty list, not NULL.
    with op.batch_alter_table("monitoring_runs") as batch:
        batch.add_column(sa.Column("triggers", sa.JSON(), server_default="[]", nullable=False))
        batch.add_column(sa.Column("notifications", sa.JSON(), server_default="[]", nullable=False))
    op.create_table(
        "triggered_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("cause", sa.String(length=300), nullable=False),
        sa.Column("check_run_id", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("run_id", sa.String(length=300), nullable=True),
        sa.Column("promoted", sa.Boolean(), nullable=True),
        sa.CheckConstraint("kind IN ('retraining', 'check')", name=op.f("ck_triggered_runs_kind")),
        sa.CheckConstraint(
            "state IN ('running', 'submitted', 'finished', 'failed')",
            name=op.f("ck_triggered_runs_state"),
        ),
        sa.ForeignKeyConstraint(
            ["check_run_id"],
            ["monitoring_runs.id"],
            name=op.f("fk_triggered_runs_check_run_id_monitoring_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triggered_runs")),
        sa.UniqueConstraint("model_name", "cause", name=op.f("uq_triggered_runs_model_name_cause")),
    )
    op.create_index(
        "ix_triggered_runs_model",
        "triggered_runs",
        ["model_name", "kind", "started_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_triggered_runs_model", table_name="triggered_runs")
    op.drop_table("triggered_runs")
    with op.batch_alter_table("monitoring_runs") as batch:
        batch.drop_column("notifications")
        batch.drop_column("triggers")
