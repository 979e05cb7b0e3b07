"""Schema migrations of the metadata database, driven through Alembic's API.

The revisions ship inside the package, so an installed kit can upgrade any database it is pointed at.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import SQLAlchemyError

from mlops_kit.db import MetadataDatabase
from mlops_kit.errors import ConfigError

MIGRATIONS = Path(__file__).with_name("migrations")


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def script() -> ScriptDirectory:
    """The revision scripts shipped with the kit."""
    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The newest revision this kit knows."""
    heads = script().get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the kit's migrations have {len(heads)} heads: {heads}")
    return heads[0]


def current(database: MetadataDatabase) -> str | None:
    """The revision the database is at, ``None`` when it was never migrated."""
    try:
        with database.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise database.connection_error(exc) from exc


def upgrade(database: MetadataDatabase, revision: str = "head") -> tuple[str | None, str]:
    """Bring the database to ``revision``; a database already there is left untouched.

    Returns:
        The revisions before and after.
    """
    return _run(database, "upgrade", revision)


def downgrade(
    database: MetadataDatabase, revision: str, warehouse: str | None = None
) -> tuple[str | None, str]:
    """Take the database back to ``revision`` (``base`` drops every table of the kit).

    Args:
        database: the metadata database.
        revision: the revision to go back to.
        warehouse: the URI of the environment's warehouse: going below 0009 writes the absolute
            paths of DuckDB data versions again, which needs the warehouse's folder.

    Returns:
        The revisions before and after.

    Raises:
        ConfigError: an unknown revision, or data versions to rewrite and no DuckDB ``warehouse``.
    """
    return _run(database, "downgrade", revision, warehouse)


def _run(
    database: MetadataDatabase, direction: str, revision: str, warehouse: str | None = None
) -> tuple[str | None, str]:
    known = {rev.revision for rev in script().walk_revisions()} | {"head", "base"}
    if revision not in known:
        raise ConfigError(
            f"unknown schema revision {revision!r}: use one of {', '.join(sorted(known))}"
        )
    before = current(database)
    config = _config()
    try:
        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            config.attributes["warehouse"] = warehouse
            getattr(command, direction)(config, revision)
    except SQLAlchemyError as exc:
        raise database.connection_error(exc) from exc
    return before, current(database) or "base"
