"""SQLite (the local twin) and PostgreSQL metadata databases."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from typing_extensions import override

from mlops_kit.db import MetadataDatabase
from mlops_kit.errors import ConfigError, MissingDependencyError, shorten


def _parse_url(uri: str, engine: str, *, shown: str, form: str) -> URL:
    """``uri`` as a SQLAlchemy URL.

    Raises:
        ConfigError: it is malformed (the message quotes it as ``shown`` and asks for ``form``).
    """
    try:
        return make_url(uri)
    except ArgumentError as exc:
        raise ConfigError(f"malformed {engine} URL {shown!r}: use {form!r}") from exc


class SqliteDatabase(MetadataDatabase):
    """A SQLite file, ``sqlite:////absolute/path/metadata.db``; created on first use.

    Its folder must exist: a path with a typo is refused rather than silently started afresh
    somewhere else. The local twin's folder (its root) is created when its environment resolves.
    """

    runs_here = True

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        url = _parse_url(uri, "SQLite", shown=uri, form="sqlite:////abs/path.db")
        if not url.database or url.database == ":memory:":
            raise ConfigError(
                f"SQLite URL {uri!r} names no file: the metadata must persist, "
                "use 'sqlite:////absolute/path/metadata.db'"
            )
        self.path = Path(url.database)

    @override
    def create_engine(self) -> Engine:
        folder = self.path.parent
        if not folder.is_dir():
            raise ConfigError(
                f"the folder {shorten(str(folder))!r} of SQLite database "
                f"{shorten(self.path.name)!r} does not exist: create it (mkdir -p) or correct "
                "the metadata URL"
            )
        engine = create_engine(
            f"sqlite:///{self.path}",
            # The driver's own transaction handling is replaced by explicit BEGIN IMMEDIATE below.
            connect_args={"timeout": 30, "isolation_level": None},
        )

        @event.listens_for(engine, "connect")
        def _configure(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys = ON")
            # WAL lets readers go on while a writer commits; several processes share the file.
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA busy_timeout = 30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            # Take the write lock at the start of every transaction, so read-then-write sequences
            # (allocating the next version number) are serialized across processes. Reads in
            # autocommit (MetadataDatabase.reading) take no lock: WAL lets them go on meanwhile.
            if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine


class PostgresDatabase(MetadataDatabase):
    """A PostgreSQL database, ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE``.

    A bare ``postgresql://`` URL uses psycopg 3 when installed, else pg8000.
    """

    # A server of the user's own, the local twin's variant for several people; the cloud's is
    # cloudsql://.
    runs_here = True

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        url = _parse_url(
            uri, "PostgreSQL", shown=self.display_url, form="postgresql://USER@HOST:PORT/DATABASE"
        )
        if not url.database:
            raise ConfigError(f"PostgreSQL URL {self.display_url!r} names no database")
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername=f"postgresql+{_available_driver()}")
        self.url = url

    @override
    def create_engine(self) -> Engine:
        connect_args: dict[str, Any] = {}
        if self.url.drivername == "postgresql+psycopg":
            connect_args["connect_timeout"] = 10
        else:
            connect_args["timeout"] = 10
        return create_engine(self.url, pool_pre_ping=True, connect_args=connect_args)


def _available_driver() -> str:
    for driver in ("psycopg", "pg8000"):
        if importlib.util.find_spec(driver) is not None:
            return driver
    raise MissingDependencyError.for_module("psycopg", "postgres", "a PostgreSQL metadata database")
