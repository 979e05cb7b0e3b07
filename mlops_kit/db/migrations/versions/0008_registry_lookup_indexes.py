"""Registry lookups read by index: the newest ready versions of a model, and a version's aliases.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Listing the newest ready versions and resolving NAME@latest: an equality on the model and
    # the status, then the versions in order, read from the index with no sort and no filter.
    op.create_index(
        "ix_model_versions_model_status_version",
        "model_versions",
        ["model_id", "status", "version"],
    )
    # A version's aliases (its lineage, and the check before a version is deleted).
    op.create_index("ix_model_aliases_version_id", "model_aliases", ["version_id"])


def downgrade() -> None:
    op.drop_index("ix_model_aliases_version_id", table_name="model_aliases")
    op.drop_index("ix_model_versions_model_status_version", table_name="model_versions")
