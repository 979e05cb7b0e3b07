"""Metadata of the model registry: models, versions with their lineage, aliases and alias history.

A version row is written ``pending`` before its artifact is uploaded and becomes ``ready`` only once
every file is stored and verified; a failed upload marks it ``failed``. Readers see ``ready`` versions
only. Version numbers come from ``registered_models.last_version``, incremented under a lock on the
model row, so they are gap-free under concurrency and never reused, even after ``gc`` deletes an
abandoned ``pending`` row.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mlops_kit.db.models import Base, NumberedVersion, numbered_version_rules, utcnow

VERSION_STATUSES = ("pending", "ready", "failed")


class RegisteredModel(Base):
    """A named model whose versions are immutable."""

    __tablename__ = "registered_models"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    last_version: Mapped[int] = mapped_column(sa.Integer, default=0)
    """The highest version number ever allocated (the next one is this plus one)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelVersionRow(NumberedVersion, Base):
    """One registered version: where its artifact is and everything it was made from."""

    __tablename__ = "model_versions"
    __table_args__ = (
        *numbered_version_rules("model_id", VERSION_STATUSES),
        sa.Index("ix_model_versions_status_created", "status", "created_at"),
        sa.Index("ix_model_versions_model_status_version", "model_id", "status", "version"),
    )

    model_id: Mapped[int] = mapped_column(sa.ForeignKey("registered_models.id", ondelete="CASCADE"))
    artifact_uri: Mapped[str] = mapped_column(sa.Text)
    flavor: Mapped[str | None] = mapped_column(sa.String(40), default=None)
    pipeline_run_id: Mapped[str | None] = mapped_column(sa.String(200), default=None)
    git_commit: Mapped[str | None] = mapped_column(sa.String(40), default=None)
    created_by: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ready_at: Mapped[datetime | None] = mapped_column(default=None)
    failure: Mapped[str | None] = mapped_column(sa.Text, default=None)

    model: Mapped[RegisteredModel] = relationship()
    files: Mapped[list[ModelFile]] = relationship(order_by="ModelFile.path", passive_deletes=True)
    metrics: Mapped[list[ModelMetric]] = relationship(passive_deletes=True)
    params: Mapped[list[ModelParam]] = relationship(passive_deletes=True)
    tags: Mapped[list[ModelTag]] = relationship(passive_deletes=True)
    datasets: Mapped[list[ModelDataLineage]] = relationship(passive_deletes=True)
    components: Mapped[list[ModelComponent]] = relationship(passive_deletes=True)


class ModelFile(Base):
    """One file of a version's artifact, with the checksums verified on every read."""

    __tablename__ = "model_files"
    __table_args__ = (sa.UniqueConstraint("version_id", "path"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("model_versions.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(sa.Text)
    """Path relative to the artifact root (the file name when a single file was registered)."""
    key: Mapped[str] = mapped_column(sa.Text)
    """Key in the environment's artifact store."""
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    md5: Mapped[str] = mapped_column(sa.String(32))


class ModelMetric(Base):
    """One metric value, overall (empty slice) or of one slice ``slice_column = slice_value``."""

    __tablename__ = "model_metrics"
    __table_args__ = (sa.UniqueConstraint("version_id", "slice_column", "slice_value", "name"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("model_versions.id", ondelete="CASCADE"))
    slice_column: Mapped[str] = mapped_column(sa.String(200), default="")
    slice_value: Mapped[str] = mapped_column(sa.String(200), default="")
    name: Mapped[str] = mapped_column(sa.String(100))
    value: Mapped[float] = mapped_column(sa.Float)


class _VersionEntry:
    """A key and its text value recorded with a version, and deleted with it."""

    version_id: Mapped[int] = mapped_column(
        sa.ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    value: Mapped[str] = mapped_column(sa.Text)


class ModelParam(_VersionEntry, Base):
    """A training parameter of a version."""

    __tablename__ = "model_params"


class ModelTag(_VersionEntry, Base):
    """A free-form label of a version."""

    __tablename__ = "model_tags"


class ModelDataLineage(Base):
    """A dataset version a model version was trained on."""

    __tablename__ = "model_data_lineage"

    version_id: Mapped[int] = mapped_column(
        sa.ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    # RESTRICT: a dataset version that trained a registered model must not disappear.
    dataset_version_id: Mapped[int] = mapped_column(
        sa.ForeignKey("dataset_versions.id", ondelete="RESTRICT"), primary_key=True
    )


class ModelComponent(Base):
    """The version of one component a model version was built with.

    ``kind`` is ``kit``, ``python``, ``package`` (one row per installed distribution of the
    training environment) or ``image`` (the container image digest).
    """

    __tablename__ = "model_components"

    version_id: Mapped[int] = mapped_column(
        sa.ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    version: Mapped[str] = mapped_column(sa.Text)


class ModelAlias(Base):
    """An alias (``champion``, ``production``) and the version that holds it now."""

    __tablename__ = "model_aliases"
    __table_args__ = (
        sa.UniqueConstraint("model_id", "alias"),
        sa.Index("ix_model_aliases_version_id", "version_id"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(sa.ForeignKey("registered_models.id", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(sa.String(100))
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("model_versions.id", ondelete="RESTRICT"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelAliasEvent(Base):
    """One movement of an alias: the audit history of which version was live when, and why."""

    __tablename__ = "model_alias_events"
    __table_args__ = (
        sa.CheckConstraint(
            "action IN ('promote', 'rollback', 'request', 'approve', 'canary', 'withdraw')",
            name="action",
        ),
        sa.Index("ix_model_alias_events_model_alias", "model_id", "alias", "id"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(sa.ForeignKey("registered_models.id", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(sa.String(100))
    action: Mapped[str] = mapped_column(sa.String(16))
    from_version: Mapped[int | None] = mapped_column(sa.Integer, default=None)
    to_version: Mapped[int] = mapped_column(sa.Integer)
    actor: Mapped[str] = mapped_column(sa.String(200))
    reason: Mapped[str] = mapped_column(sa.Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    traffic_share: Mapped[float | None] = mapped_column(sa.Float, default=None)
    """The share of the alias's traffic a ``canary`` version takes."""
