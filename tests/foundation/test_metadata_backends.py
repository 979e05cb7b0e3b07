"""Metadata database backends: URLs and unreachable servers.

The Cloud SQL connector itself runs against the cloud twin (``tests/cloud_twin/test_cloudsql.py``).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mlops_kit.db import METADATA_DATABASES
from mlops_kit.errors import BackendError, ConfigError


def test_unreachable_postgres_is_one_clear_line() -> None:
    database = METADATA_DATABASES.open("postgresql://kit:pw@127.0.0.1:9/kit")
    with pytest.raises(BackendError) as info:
        database.check()
    message = str(info.value)
    assert "\n" not in message and "pw" not in message
    assert message.startswith("metadata database postgresql://kit:***@127.0.0.1:9/kit:")
    assert "refused" in message.lower()


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("sqlite://", "names no file"),
        ("sqlite:///:memory:", "names no file"),
        ("postgresql://u@h", "names no database"),
        ("cloudsql://proj:region/db?iam_user=a", "malformed Cloud SQL URI"),
        ("cloudsql://proj:region:inst/db", "names no IAM database user"),
        ("cloudsql://proj:region:inst/db?iam_user=a&ip_type=lan", "unknown ip_type 'lan'"),
    ],
)
def test_malformed_metadata_urls(uri: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        METADATA_DATABASES.open(uri)


def test_cloud_sql_without_credentials_fails_fast() -> None:
    import time

    database = METADATA_DATABASES.open("cloudsql://p:r:i/db?iam_user=sa@p.iam")
    started = time.monotonic()
    with pytest.raises(BackendError, match="cloudsql://p:r:i/db.*no Google credentials"):
        database.check()
    database.dispose()
    assert time.monotonic() - started < 10


def test_sqlite_reads_go_on_while_a_writer_holds_the_lock(tmp_path: Path) -> None:
    from sqlalchemy import text

    writer = METADATA_DATABASES.open(f"sqlite:///{tmp_path / 'metadata.db'}")
    reader = METADATA_DATABASES.open(f"sqlite:///{tmp_path / 'metadata.db'}")
    with writer.session() as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))
    with writer.session() as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
        # A read session takes no write lock: it answers at once from the last commit.
        started = time.monotonic()
        with reader.reading() as reading:
            assert reading.execute(text("SELECT count(*) FROM t")).scalar() == 0
        assert time.monotonic() - started < 5
    with reader.reading() as reading:
        assert reading.execute(text("SELECT count(*) FROM t")).scalar() == 1
    writer.dispose()
    reader.dispose()
