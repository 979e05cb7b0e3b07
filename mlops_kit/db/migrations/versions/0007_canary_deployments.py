"""Canary deployments in the alias history: a version takes a share of an alias's traffic.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TABLE = "model_alias_events"


def _actions(batch: BatchOperations, allowed: str) -> None:
    batch.drop_constraint(op.f("ck_model_alias_events_action"), type_="check")
    batch.create_check_constraint(op.f("ck_model_alias_events_action"), f"action IN ({allowed})")


def upgrade() -> None:
    # SQLite cannot alter a CHECK constraint: batch mode rebuilds the table there.
    with op.batch_alter_table(_TABLE) as batch:
        _actions(batch, "'promote', 'rollback', 'request', 'approve', 'canary', 'withdraw'")
        batch.add_column(sa.Column("traffic_share", sa.Float(), nullable=True))


def downgrade() -> None:
    events = sa.table(_TABLE, sa.column("action", sa.String))
    # A canary never moved the alias: its start and its end leave no trace of a holder.
    op.execute(events.delete().where(events.c.action.in_(("canary", "withdraw"))))
    with op.batch_alter_table(_TABLE) as batch:
        batch.drop_column("traffic_share")
        _actions(batch, "'promote', 'rollback', 'request', 'approve'")
