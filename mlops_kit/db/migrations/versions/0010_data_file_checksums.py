"""A dataset version's manifest records the SHA-256 of its stored file.

Checking a version before it is read then hashes the file's bytes instead of recomputing the content
fingerprint of every row. Versions recorded before have no checksum (``NULL``): they are checked by
their content, and record the checksum once that passes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dataset_versions") as batch:
        batch.add_column(sa.Column("checksum", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dataset_versions") as batch:
        batch.drop_column("checksum")
