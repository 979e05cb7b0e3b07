"""SQLAlchemy models of the metadata database, one module per practice.

Every table is registered on :data:`Base.metadata`, which the Alembic revisions must match exactly
(a test compares them). Constraint names follow :data:`NAMING_CONVENTION` so that migrations name
them the same way on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import DateTime, MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every metadata table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: DateTime(timezone=True)}


def utcnow() -> datetime:
    """The current time in UTC, the only timezone the metadata stores."""
    return datetime.now(UTC)


from mlops_kit.db.models import data as data  # noqa: E402  (registers the tables on Base.metadata)
from mlops_kit.db.models import monitoring as monitoring  # noqa: E402
from mlops_kit.db.models import registry as registry  # noqa: E402
