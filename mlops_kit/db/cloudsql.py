"""Cloud SQL for PostgreSQL through the Cloud SQL Python Connector.

``cloudsql://PROJECT:REGION:INSTANCE/DATABASE?iam_user=USER[&ip_type=private|psc|public]``
``[&sqladmin_api_endpoint=URL]`` (the SQL Admin API behind a private endpoint, or a stand-in)

Connections use the pg8000 driver, IAM database authentication (no password exists) and, by
default, the instance's private IP. The connector refreshes certificates lazily, on connect, because
pipeline steps and CLI calls are short-lived and a background refresh thread would outlive them. A
connection (certificates and TLS handshake included) gives up at the retry deadline of every Google
backend (:func:`~mlops_kit.gcp.retry_deadline`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import Engine, create_engine
from typing_extensions import override

from mlops_kit.db import MetadataDatabase
from mlops_kit.errors import BackendError, ConfigError
from mlops_kit.gcp import google_error, import_google_sdk, retry_deadline, unreachable

_IP_TYPES = ("private", "psc", "public")
_SQL_ADMIN_API = "https://sqladmin.googleapis.com"


class CloudSqlDatabase(MetadataDatabase):
    """The metadata database of a cloud environment."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        parts = urlsplit(uri)
        query = parse_qs(parts.query)
        instance = parts.netloc
        database = parts.path.strip("/")
        if instance.count(":") != 2 or not all(instance.split(":")) or not database:
            raise ConfigError(
                f"malformed Cloud SQL URI {uri!r}: use "
                "'cloudsql://PROJECT:REGION:INSTANCE/DATABASE?iam_user=USER'"
            )
        users = query.get("iam_user")
        if not users:
            raise ConfigError(
                f"Cloud SQL URI {uri!r} names no IAM database user: add '?iam_user=SERVICE_ACCOUNT' "
                "(the service account email without '.gserviceaccount.com')"
            )
        ip_type = query.get("ip_type", ["private"])[0].lower()
        if ip_type not in _IP_TYPES:
            raise ConfigError(f"unknown ip_type {ip_type!r} in {uri!r}: use one of {_IP_TYPES}")
        self.instance_connection_name = instance
        self.database = database
        self.iam_user = unquote(users[0]).removesuffix(".gserviceaccount.com")
        self.ip_type = ip_type
        self.sqladmin_api_endpoint = query.get("sqladmin_api_endpoint", [None])[0]
        self.retry_timeout = retry_deadline()
        """Seconds a connection may take before it gives up."""
        self._connector: Any = None

    def connect_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``Connector.connect`` for every new connection."""
        from google.cloud.sql.connector import IPTypes

        return {
            "instance_connection_string": self.instance_connection_name,
            "driver": "pg8000",
            "user": self.iam_user,
            "db": self.database,
            "enable_iam_auth": True,
            "ip_type": IPTypes[self.ip_type.upper()],
        }

    @override
    def create_engine(self) -> Engine:
        connector_class = import_google_sdk(
            "google.cloud.sql.connector",
            package="cloud-sql-python-connector",
            purpose="the Cloud SQL metadata database",
        ).Connector
        arguments = self.connect_arguments()
        try:
            self._connector = connector_class(
                refresh_strategy="LAZY",
                enable_iam_auth=True,
                ip_type=arguments["ip_type"],
                sqladmin_api_endpoint=self.sqladmin_api_endpoint,
                timeout=self.retry_timeout,
            )
        except Exception as exc:  # google-auth finds no credentials, or the connector can't start
            raise self.connection_error(exc) from exc
        connector = self._connector

        def connect() -> Any:
            try:
                return connector.connect(**arguments)
            except Exception as exc:
                # The connector raises its own and google-auth's errors, which SQLAlchemy does not
                # wrap; turn them into the kit's one-line error here.
                raise self.connection_error(exc) from exc

        return create_engine("postgresql+pg8000://", creator=connect, pool_pre_ping=True)

    @override
    def connection_error(self, exc: BaseException) -> BackendError:
        if type(exc).__name__ == "DefaultCredentialsError":
            return BackendError(
                f"metadata database {self.display_url}: no Google credentials, "
                "run `gcloud auth application-default login`"
            )
        if unreachable(exc):
            return google_error(
                f"metadata database {self.display_url}",
                exc,
                service="Cloud SQL",
                endpoint=lambda: self.sqladmin_api_endpoint or _SQL_ADMIN_API,
                deadline=self.retry_timeout,
            )
        return super().connection_error(exc)

    @override
    def dispose(self) -> None:
        super().dispose()
        if self._connector is not None:
            self._connector.close()
            self._connector = None
