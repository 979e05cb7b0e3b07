"""Artifacts in Google Cloud Storage, ``gs://BUCKET/PREFIX``; google-cloud-storage loads on first use."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from typing_extensions import override

from mlops_kit.artifacts import ArtifactStore
from mlops_kit.errors import BackendError, ConfigError, MissingDependencyError


class GcsArtifactStore(ArtifactStore):
    """Artifacts under a prefix of a GCS bucket."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        parts = urlsplit(uri)
        if not parts.netloc:
            raise ConfigError(f"malformed GCS URI {uri!r}: use 'gs://BUCKET/PREFIX'")
        self.bucket_name = parts.netloc
        self.prefix = parts.path.strip("/")

    def client(self) -> Any:
        """A storage client (honours ``STORAGE_EMULATOR_HOST``)."""
        try:
            from google.cloud import storage  # type: ignore[attr-defined]
        except ImportError as exc:
            raise MissingDependencyError.for_module(
                "google-cloud-storage", "gcp", "the GCS artifact store"
            ) from exc
        return storage.Client()

    @override
    def check(self) -> str:
        client = self.client()
        from google.api_core import exceptions as google_errors
        from google.auth import exceptions as auth_errors

        try:
            bucket = client.get_bucket(self.bucket_name)
        except auth_errors.DefaultCredentialsError as exc:
            raise BackendError(
                "no Google credentials for GCS: run `gcloud auth application-default login`"
            ) from exc
        except google_errors.GoogleAPICallError as exc:
            raise BackendError(
                f"cannot reach bucket gs://{self.bucket_name}: {exc.message}"
            ) from exc
        return f"bucket gs://{bucket.name} ({bucket.location}), prefix {self.prefix or '/'}"
