"""The metadata role: the database of versions, lineage, aliases, history and monitoring runs.

Backends by scheme: ``sqlite:///path`` (the local twin), ``postgresql://`` (any PostgreSQL) and
``cloudsql://PROJECT:REGION:INSTANCE/DATABASE?iam_user=USER`` (Cloud SQL for PostgreSQL through
the Cloud SQL Python Connector with IAM database authentication over private IP).

The schema changes only through the Alembic revisions in ``mlops_kit/db/migrations``.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final

from typing_extensions import override

from mlops_kit.backends import Backend, SchemeRegistry, redact_uri
from mlops_kit.errors import BackendError, first_line, shorten

if TYPE_CHECKING:
    # SQLAlchemy is imported when a database is used: resolving an environment (every command,
    # and the reports, which read no metadata) registers this role without it.
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker


class MetadataDatabase(Backend):
    """A SQL database holding the kit's metadata, reached through SQLAlchemy."""

    @abstractmethod
    def create_engine(self) -> Engine:
        """Create the SQLAlchemy engine for this database (called once, see :attr:`engine`)."""

    @property
    def display_url(self) -> str:
        """The URL without secrets, for messages."""
        return shorten(redact_uri(self.uri))

    @cached_property
    def engine(self) -> Engine:
        """The engine, created on first use.

        In a dry run it refuses every statement that would change the database before sending it
        (:meth:`~mlops_kit.backends.Backend.refuse_change`), whatever sent it: an ORM flush, an
        UPDATE or DELETE through a session, or a migration. Reads go on.
        """
        from sqlalchemy import event

        engine = self.create_engine()
        event.listen(engine, "before_execute", self._before_execute)
        return engine

    def _before_execute(self, _connection: Any, statement: object, *_args: Any) -> None:
        if self.dry_run_command is not None:
            change = _change_of(statement)
            if change is not None:
                self.refuse_change(f"write the metadata database ({change})")

    @cached_property
    def _sessions(self) -> sessionmaker[Session]:
        from sqlalchemy.orm import sessionmaker

        return sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error.

        Raises:
            BackendError: the database cannot be reached.
        """
        from sqlalchemy.exc import SQLAlchemyError

        with self._sessions() as session:
            try:
                with session.begin():
                    yield session
            except SQLAlchemyError as exc:
                raise self.connection_error(exc) from exc

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads alone, each statement on its own (autocommit).

        No BEGIN and COMMIT: two round trips fewer than :meth:`session`, and nothing else
        changes for reads, since PostgreSQL's READ COMMITTED gives each statement of a
        transaction its own snapshot anyway. Writes belong in :meth:`session`.

        Raises:
            BackendError: the database cannot be reached.
        """
        from sqlalchemy.exc import SQLAlchemyError
        from sqlalchemy.orm import Session

        try:
            with self.engine.connect() as connection:
                autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
                with Session(bind=autocommit) as session:
                    yield session
        except SQLAlchemyError as exc:
            raise self.connection_error(exc) from exc

    def connection_error(self, exc: BaseException) -> BackendError:
        """A one-line error for a failure to reach or use the database."""
        fix = _fix_for(getattr(exc, "orig", None) or exc)
        said = f"metadata database {self.display_url}: {first_line(exc)}"
        return BackendError(f"{said}; {fix}" if fix else said)

    def dispose(self) -> None:
        """Close every pooled connection."""
        if "engine" in self.__dict__:
            self.engine.dispose()

    @override
    def check(self) -> str:
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        from mlops_kit.db import migrate

        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
                dialect = self.engine.dialect
                server = ".".join(str(part) for part in dialect.server_version_info or ())
        except SQLAlchemyError as exc:
            raise self.connection_error(exc) from exc
        current = migrate.current(self)
        head = migrate.head()
        if current != head:
            raise BackendError(
                f"metadata schema is at {current or 'nothing'} but this kit needs {head}: "
                "run `mlops-kit db upgrade`"
            )
        return f"{dialect.name} {server}, schema at {head}".replace(" ,", ",")


_READING: Final = ("SELECT", "BEGIN")
"""The first words of textual SQL that changes nothing: a read, or SQLite's ``BEGIN IMMEDIATE``."""


def _change_of(statement: object) -> str | None:
    """What ``statement`` would change in the database, or ``None`` when it only reads."""
    from sqlalchemy import TextClause
    from sqlalchemy.sql.ddl import ExecutableDDLElement
    from sqlalchemy.sql.dml import UpdateBase

    if isinstance(statement, UpdateBase):  # INSERT, UPDATE and DELETE, also of ORM flushes
        return f"table {getattr(statement.table, 'name', statement.table)}"
    if isinstance(statement, ExecutableDDLElement):
        return "its schema"
    if isinstance(statement, (str, TextClause)):
        words = str(statement).split(None, 1)
        first = words[0].upper() if words else ""
        return None if first in _READING else f"a {first} statement"
    return None  # a SELECT, a savepoint


_MISSING_TABLES = "its tables are missing (dropped, or never created): run `mlops-kit db upgrade`"
_NOT_A_DATABASE = (
    "the file is damaged or is not a SQLite database: restore it from a backup, or move it away "
    "and run `mlops-kit db upgrade` to start an empty one"
)
_FIXES = {
    # PostgreSQL SQLSTATEs
    "42P01": _MISSING_TABLES,
    "3F000": "its schema is missing: create the schema, then run `mlops-kit db upgrade`",
    "53100": "the database server's disk is full: free space on it, then retry",
    # SQLite result codes
    "SQLITE_NOTADB": _NOT_A_DATABASE,
    "SQLITE_CORRUPT": _NOT_A_DATABASE,
    "SQLITE_FULL": "the database file or its disk is full: free space, then retry",
}
"""The fix of each database failure a user can repair, by the driver's error code."""


def _fix_for(error: BaseException) -> str | None:
    """The fix of the driver's ``error`` (psycopg, pg8000 or sqlite3), if it is a known one."""
    code = getattr(error, "sqlstate", None) or getattr(error, "sqlite_errorname", None)
    if code is None and error.args and isinstance(error.args[0], dict):  # pg8000's fields
        code = error.args[0].get("C")
    if code == "SQLITE_ERROR" and str(error).startswith("no such table"):
        return _MISSING_TABLES
    return _FIXES.get(str(code)) if code else None


METADATA_DATABASES: SchemeRegistry[MetadataDatabase] = SchemeRegistry("metadata", MetadataDatabase)
METADATA_DATABASES.register(["sqlite"], "mlops_kit.db.engines:SqliteDatabase")
METADATA_DATABASES.register(
    ["postgresql", "postgres", "postgresql+psycopg", "postgresql+pg8000"],
    "mlops_kit.db.engines:PostgresDatabase",
)
METADATA_DATABASES.register(["cloudsql"], "mlops_kit.db.cloudsql:CloudSqlDatabase")
