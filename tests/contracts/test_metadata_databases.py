"""The metadata-database contract, through the public interface only, on SQLite and PostgreSQL.

A new database runs it by adding its scheme to ``OFFLINE`` and a parameter to ``metadata_url``
(``tests/conftest.py``).
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from mlops_kit.db import METADATA_DATABASES, migrate


def test_check_migrates_nothing_and_reports_the_schema(metadata_url: str) -> None:
    database = METADATA_DATABASES.open(metadata_url)
    migrate.upgrade(database)

    line = database.check()

    assert "schema at" in line and "\n" not in line
    database.dispose()


def test_databases_opened_on_the_same_uri_share_their_rows(metadata_url: str) -> None:
    writer, reader = METADATA_DATABASES.open(metadata_url), METADATA_DATABASES.open(metadata_url)
    with writer.session() as session:
        session.execute(text("CREATE TABLE contract_probe (n INTEGER)"))
        session.execute(text("INSERT INTO contract_probe (n) VALUES (7)"))

    with reader.session() as session:
        assert session.execute(text("SELECT n FROM contract_probe")).scalars().all() == [7]
    writer.dispose()
    reader.dispose()


def test_a_failed_session_stores_nothing(metadata_url: str) -> None:
    database = METADATA_DATABASES.open(metadata_url)
    with database.session() as session:
        session.execute(text("CREATE TABLE contract_probe (n INTEGER)"))
    with pytest.raises(RuntimeError, match="half-way"), database.session() as session:
        session.execute(text("INSERT INTO contract_probe (n) VALUES (1)"))
        raise RuntimeError("half-way")

    with database.session() as session:
        assert session.execute(text("SELECT COUNT(*) FROM contract_probe")).scalar() == 0
    database.dispose()
