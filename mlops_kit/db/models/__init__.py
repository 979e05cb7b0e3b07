"""SQLAlchemy models of the metadata database, one module per practice.

Every table is registered on :data:`Base.metadata`, which the Alembic revisions must match exactly
(a test compares them). Constraint names follow :data:`NAMING_CONVENTION` so that migrations name
them the same way on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every metadata table."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: sa.DateTime(timezone=True)}


def utcnow() -> datetime:
    """The current time in UTC, the only timezone the metadata stores."""
    return datetime.now(UTC)


def one_of(column: str, values: Sequence[str]) -> sa.CheckConstraint:
    """The rule that ``column`` holds one of ``values``, named after the column."""
    listed = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=column)


class NumberedVersion:
    """Columns of one numbered version of a parent row (a dataset, a model).

    The row is written ``pending`` and becomes visible when its status says it is ready; the table
    names the parent's key and states its rules with :func:`numbered_version_rules`.
    """

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    version: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")


def numbered_version_rules(
    parent_id: str, statuses: Sequence[str]
) -> tuple[sa.UniqueConstraint, sa.CheckConstraint, sa.CheckConstraint]:
    """The rules of a table of numbered versions whose parent's key is ``parent_id``.

    One row per parent and number, numbers from 1, and a status among ``statuses``.
    """
    return (
        sa.UniqueConstraint(parent_id, "version"),
        one_of("status", statuses),
        sa.CheckConstraint("version > 0", name="version_positive"),
    )


from mlops_kit.db.models import data as data  # noqa: E402  (registers the tables on Base.metadata)
from mlops_kit.db.models import monitoring as monitoring  # noqa: E402
from mlops_kit.db.models import registry as registry  # noqa: E402
