"""Alembic environment: runs revisions on the connection that :mod:`mlops_kit.db.migrate` passes."""

from __future__ import annotations

from alembic import context

from mlops_kit.db.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
