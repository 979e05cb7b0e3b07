"""The Cloud SQL metadata backend through the real connector and pg8000, on the twin.

The kit opens ``cloudsql://`` with the twin's service account key; the connector asks the SQL
Admin API stand-in for the instance and an ephemeral certificate (with an IAM login token), dials
3307 over TLS, and pg8000 ends up in the real PostgreSQL as the IAM user's role, in the database
of that twin alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from mlops_kit import models
from mlops_kit.db import migrate
from mlops_kit.db.cloudsql import CloudSqlDatabase
from mlops_kit.errors import BackendError
from mlops_kit.kit import Kit
from tests.cloud_twin.cloudsql import (
    STALE_AFTER,
    create_database,
    create_iam_user,
    drop_stale_databases,
)
from tests.cloud_twin.oauth import TokenEndpoint
from tests.cloud_twin.twin import POSTGRES_ADMIN_URL, CloudTwin, runner_account, start_twin
from tests.models.conftest import train_classifier

pytestmark = pytest.mark.postgres


def test_migrations_and_a_registry_round_trip_on_cloud_sql(
    cloud_twin: CloudTwin, project_dir: Path
) -> None:
    import psycopg

    assert cloud_twin.cloudsql is not None and cloud_twin.tokens is not None
    with Kit.open("twin") as kit:
        assert isinstance(kit.metadata, CloudSqlDatabase)
        migrate.upgrade(kit.metadata)
        assert migrate.current(kit.metadata) == migrate.head()
        artifact = train_classifier(project_dir / "model")
        version = models.register(
            kit, "churn-cloudsql", artifact, lineage=models.Lineage(packages={})
        )
        assert version.artifact_uri.startswith("gs://twin-project-mlops-models/models/")
        assert models.get_version(kit, "churn-cloudsql@latest").version == version.version

    role = cloud_twin.account.removesuffix(".gserviceaccount.com")
    with psycopg.connect(cloud_twin.cloudsql.backing_url) as connection:
        tables = {
            row[0]: row[1]
            for row in connection.execute(
                "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'"
            )
        }
    assert tables["alembic_version"] == tables["registered_models"] == role
    paths = [path for _, path, _ in cloud_twin.cloudsql.requests]
    instance = "/sql/v1beta4/projects/twin-project/instances/mlops-twin-metadata"
    assert f"{instance}/connectSettings" in paths
    (cert_request, *_) = [body for _, path, body in cloud_twin.cloudsql.requests if body]
    assert cloud_twin.tokens.account_of(cert_request["access_token"]) == cloud_twin.account
    assert cert_request["public_key"].startswith("-----BEGIN PUBLIC KEY-----")


def _refusal(metadata_uri: str) -> str:
    """The one-line message with which the Cloud SQL database at ``metadata_uri`` refuses a check."""
    database = CloudSqlDatabase(metadata_uri)
    with pytest.raises(BackendError) as refused:
        database.check()
    database.dispose()
    assert "\n" not in str(refused.value)
    return str(refused.value)


def test_a_token_the_service_did_not_issue_is_refused_in_one_line(
    cloud_twin: CloudTwin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    strangers = TokenEndpoint().start()
    try:
        key = strangers.write_credentials(tmp_path / "other.json", cloud_twin.account, "x")
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
        message = _refusal(cloud_twin.environment().metadata)
    finally:
        strangers.stop()
    assert "invalid authentication credentials" in message


def test_a_user_the_certificate_does_not_name_is_refused_in_one_line(
    cloud_twin: CloudTwin,
) -> None:
    assert cloud_twin.cloudsql is not None
    uri = cloud_twin.environment().metadata.replace(
        "iam_user=mlops-pipeline-runner", "iam_user=someone-else"
    )
    assert "IAM user authentication failed for user 'someone-else" in _refusal(uri)
    assert "someone-else" in cloud_twin.cloudsql.refused[-1]


_MIGRATE_AND_WRITE = """
import sys
from sqlalchemy import text
from mlops_kit.db import migrate
from mlops_kit.db.cloudsql import CloudSqlDatabase

uri, revision, model = sys.argv[1:]
database = CloudSqlDatabase(uri)
try:
    migrate.upgrade(database, revision)
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO registered_models (name, last_version, created_at) "
                "VALUES (:name, 0, now())"
            ),
            {"name": model},
        )
finally:
    database.dispose()
"""
"""Migrate the Cloud SQL database of argv[1] to revision argv[2] and register model argv[3]."""


def _migrate_and_write(twin: CloudTwin, revision: str, model: str) -> subprocess.Popen[str]:
    """Run :data:`_MIGRATE_AND_WRITE` against ``twin`` in a process of its own (Alembic's
    context is global to a process, as it is in each pytest worker or checkout)."""
    return subprocess.Popen(
        [sys.executable, "-c", _MIGRATE_AND_WRITE, twin.environment().metadata, revision, model],
        env={**os.environ, **twin.environ()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _models(twin: CloudTwin) -> set[str]:
    import psycopg

    assert twin.cloudsql is not None
    with psycopg.connect(twin.cloudsql.backing_url) as connection:
        return {row[0] for row in connection.execute("SELECT name FROM registered_models")}


def test_two_twins_at_once_migrate_and_write_apart(cloud_twin: CloudTwin, tmp_path: Path) -> None:
    """Two twins (of two xdist workers, two checkouts) at two schema revisions, at once."""
    import psycopg

    other = start_twin(tmp_path / "other")
    running = [other]
    try:
        assert not other.failures, other.failures
        assert other.cloudsql is not None and cloud_twin.cloudsql is not None
        assert other.cloudsql.backing_database != cloud_twin.cloudsql.backing_database
        mine, theirs = f"churn-{uuid.uuid4().hex[:8]}", f"churn-{uuid.uuid4().hex[:8]}"
        runs = [
            _migrate_and_write(cloud_twin, migrate.head(), mine),
            _migrate_and_write(other, "0003", theirs),
        ]
        for run in runs:
            _, stderr = run.communicate(timeout=300)
            assert run.returncode == 0, stderr[-2000:]
        with Kit.open("twin") as kit:
            assert migrate.current(kit.metadata) == migrate.head()
        assert mine in _models(cloud_twin) and theirs not in _models(cloud_twin)
        assert _models(other) == {theirs}
        with psycopg.connect(other.cloudsql.backing_url) as connection:
            (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        assert revision == "0003"

        running.pop().stop()
        with psycopg.connect(POSTGRES_ADMIN_URL) as connection:
            left = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [other.cloudsql.backing_database]
            ).fetchone()
        assert left is None
        with Kit.open("twin") as kit:
            assert migrate.current(kit.metadata) == migrate.head()
        assert mine in _models(cloud_twin)
    finally:
        for twin in running:
            twin.stop()


def test_a_database_the_instance_does_not_have_is_refused_in_one_line(
    cloud_twin: CloudTwin,
) -> None:
    assert cloud_twin.cloudsql is not None
    uri = cloud_twin.environment().metadata.replace("/mlops?", "/test?")
    assert 'database "test" does not exist' in _refusal(uri)
    assert cloud_twin.cloudsql.refused[-1] == 'database "test" does not exist'


def test_start_drops_the_databases_twins_left_a_day_ago(postgres_available: bool) -> None:
    import psycopg

    from tests.conftest import require

    require(postgres_available, f"PostgreSQL at {POSTGRES_ADMIN_URL}")
    owner = create_iam_user(POSTGRES_ADMIN_URL, runner_account())
    now = time.time()
    stale = f"twin_{int(now - STALE_AFTER - 60)}_{uuid.uuid4().hex[:8]}"
    running = f"twin_{int(now - STALE_AFTER + 60)}_{uuid.uuid4().hex[:8]}"
    for name in (stale, running):
        create_database(POSTGRES_ADMIN_URL, name, owner)
    try:
        dropped = drop_stale_databases(POSTGRES_ADMIN_URL, now)
        with psycopg.connect(POSTGRES_ADMIN_URL) as connection:
            left = {
                row[0]
                for row in connection.execute(
                    "SELECT datname FROM pg_database WHERE datname IN (%s, %s)", [stale, running]
                )
            }
        # Another twin starting this instant may have dropped the stale one first.
        assert running not in dropped
        assert left == {running}
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
            for name in (stale, running):
                connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
