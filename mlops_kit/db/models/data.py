"""Metadata of dataset versions: one ``datasets`` row per name, one ``dataset_versions`` row per version.

A version is visible only once its row says ``status = 'ready'``. The snapshot writes the row and the
warehouse data in one metadata transaction that holds a lock on the dataset row, so version numbers are
allocated gap-free under concurrency and a failed snapshot leaves neither a visible version nor a row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mlops_kit.db.models import Base, NumberedVersion, numbered_version_rules, utcnow


class Dataset(Base):
    """A named dataset whose versions are immutable."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    versions: Mapped[list[DatasetVersionRow]] = relationship(
        back_populates="dataset", order_by="DatasetVersionRow.version"
    )


class DatasetVersionRow(NumberedVersion, Base):
    """The manifest of one immutable dataset version."""

    __tablename__ = "dataset_versions"
    __table_args__ = (
        *numbered_version_rules("dataset_id", ("pending", "ready")),
        sa.Index("ix_dataset_versions_fingerprint", "dataset_id", "fingerprint"),
    )

    dataset_id: Mapped[int] = mapped_column(sa.ForeignKey("datasets.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    row_count: Mapped[int] = mapped_column(sa.BigInteger)
    schema: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    profile: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, default=None)
    source: Mapped[str] = mapped_column(sa.Text)
    storage: Mapped[str] = mapped_column(sa.Text)
    # SHA-256 of the stored file; None where the warehouse stores no file, or recorded before 0010.
    checksum: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    created_by: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    git_commit: Mapped[str | None] = mapped_column(sa.String(40), default=None)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    tags: Mapped[dict[str, str]] = mapped_column(sa.JSON, default=dict)

    dataset: Mapped[Dataset] = relationship(back_populates="versions")
