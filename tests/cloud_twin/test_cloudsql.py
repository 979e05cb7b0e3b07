"""The Cloud SQL metadata backend through the real connector and pg8000, on the twin.

The kit opens ``cloudsql://`` with the twin's service account key; the connector asks the SQL
Admin API stand-in for the instance and an ephemeral certificate (with an IAM login token), dials
3307 over TLS, and pg8000 ends up in the real PostgreSQL as the IAM user's role.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_kit import models
from mlops_kit.db import migrate
from mlops_kit.db.cloudsql import CloudSqlDatabase
from mlops_kit.errors import BackendError
from mlops_kit.kit import Kit
from tests.cloud_twin.oauth import TokenEndpoint
from tests.cloud_twin.twin import POSTGRES_ADMIN_URL, CloudTwin
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
    with psycopg.connect(POSTGRES_ADMIN_URL) as connection:
        tables = {
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", [role]
            )
        }
    assert {"alembic_version", "registered_models"} <= tables
    paths = [path for _, path, _ in cloud_twin.cloudsql.requests]
    instance = "/sql/v1beta4/projects/twin-project/instances/mlops-twin-metadata"
    assert f"{instance}/connectSettings" in paths
    (cert_request, *_) = [body for _, path, body in cloud_twin.cloudsql.requests if body]
    assert cloud_twin.tokens.account_of(cert_request["access_token"]) == cloud_twin.account
    assert cert_request["public_key"].startswith("-----BEGIN PUBLIC KEY-----")


def test_a_token_the_service_did_not_issue_is_refused_in_one_line(
    cloud_twin: CloudTwin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    strangers = TokenEndpoint().start()
    try:
        key = strangers.write_credentials(tmp_path / "other.json", cloud_twin.account, "x")
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
        database = CloudSqlDatabase(cloud_twin.environment().metadata)
        with pytest.raises(BackendError) as refused:
            database.check()
        database.dispose()
    finally:
        strangers.stop()
    message = str(refused.value)
    assert "\n" not in message
    assert "invalid authentication credentials" in message


def test_a_user_the_certificate_does_not_name_is_refused_in_one_line(
    cloud_twin: CloudTwin,
) -> None:
    assert cloud_twin.cloudsql is not None
    uri = cloud_twin.environment().metadata.replace(
        "iam_user=mlops-pipeline-runner", "iam_user=someone-else"
    )
    database = CloudSqlDatabase(uri)
    with pytest.raises(BackendError) as refused:
        database.check()
    database.dispose()
    assert "\n" not in str(refused.value)
    assert "IAM user authentication failed for user 'someone-else" in str(refused.value)
    assert "someone-else" in cloud_twin.cloudsql.refused[-1]
