"""Protected aliases: promotion requests and approvals in the alias history.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TABLE = "model_alias_events"


def _actions(allowed: str) -> None:
    # SQLite cannot alter a CHECK constraint: batch mode rebuilds the table there.
    with op.batch_alter_table(_TABLE) as batch:
        batch.drop_constraint(op.f("ck_model_alias_events_action"), type_="check")
        batch.create_check_constraint(
            op.f("ck_model_alias_events_action"), f"action IN ({allowed})"
        )


def upgrade() -> None:
    _actions("'promote', 'rollback', 'request', 'approve'")


def downgrade() -> None:
    events = sa.table(_TABLE, sa.column("action", sa.String))
    # An approved promotion stays a promotion; a request moved nothing.
    op.execute(events.update().where(events.c.action == "approve").values(action="promote"))
    op.execute(events.delete().where(events.c.action == "request"))
    _actions("'promote', 'rollback'")
