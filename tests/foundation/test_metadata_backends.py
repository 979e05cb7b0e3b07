"""Metadata database backends: URLs, unreachable servers, and the Cloud SQL connection factory."""

from __future__ import annotations

from typing import Any

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


class RecordingConnector:
    """Stands in for ``google.cloud.sql.connector.Connector``: records, never connects."""

    instances: list[RecordingConnector] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.connects: list[dict[str, Any]] = []
        self.closed = False
        RecordingConnector.instances.append(self)

    def connect(self, instance_connection_string: str, driver: str, **kwargs: Any) -> Any:
        self.connects.append({"instance": instance_connection_string, "driver": driver, **kwargs})
        raise ConnectionRefusedError("recorded, not connected")

    def close(self) -> None:
        self.closed = True


def test_cloud_sql_connection_factory_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    from google.cloud.sql import connector as connector_module
    from google.cloud.sql.connector import IPTypes

    monkeypatch.setattr(connector_module, "Connector", RecordingConnector)
    RecordingConnector.instances.clear()
    database = METADATA_DATABASES.open(
        "cloudsql://acme-ml-dev:europe-west1:mlops-dev-metadata/mlops"
        "?iam_user=mlops-pipeline-runner@acme-ml-dev.iam.gserviceaccount.com"
    )
    with pytest.raises(BackendError, match="recorded, not connected"):
        database.check()
    (connector,) = RecordingConnector.instances
    assert connector.kwargs == {
        "refresh_strategy": "LAZY",
        "enable_iam_auth": True,
        "ip_type": IPTypes.PRIVATE,
    }
    assert connector.connects[0] == {
        "instance": "acme-ml-dev:europe-west1:mlops-dev-metadata",
        "driver": "pg8000",
        "user": "mlops-pipeline-runner@acme-ml-dev.iam",
        "db": "mlops",
        "enable_iam_auth": True,
        "ip_type": IPTypes.PRIVATE,
    }
    database.dispose()
    assert connector.closed


def test_cloud_sql_without_credentials_fails_fast() -> None:
    import time

    database = METADATA_DATABASES.open("cloudsql://p:r:i/db?iam_user=sa@p.iam")
    started = time.monotonic()
    with pytest.raises(BackendError, match="cloudsql://p:r:i/db.*no Google credentials"):
        database.check()
    database.dispose()
    assert time.monotonic() - started < 10
