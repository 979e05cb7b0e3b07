"""Baseline of the metadata schema: the revision every database starts from.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to create: each practice adds its tables in the revisions that follow."""


def downgrade() -> None:
    """Nothing to drop."""
