"""Pipelines on Vertex AI Pipelines, ``vertex://PROJECT/LOCATION``."""

from __future__ import annotations

from urllib.parse import urlsplit

from typing_extensions import override

from mlops_kit.errors import BackendError, ConfigError, MissingDependencyError
from mlops_kit.orchestrators import Orchestrator


class VertexRunner(Orchestrator):
    """Submits compiled pipelines to Vertex AI Pipelines."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        parts = urlsplit(uri)
        location = parts.path.strip("/")
        if not parts.netloc or not location or "/" in location:
            raise ConfigError(f"malformed Vertex URI {uri!r}: use 'vertex://PROJECT/LOCATION'")
        self.project = parts.netloc
        self.location = location

    @override
    def check(self) -> str:
        try:
            import google.auth
            from google.auth import exceptions as auth_errors
        except ImportError as exc:
            raise MissingDependencyError.for_module(
                "google-cloud-aiplatform", "vertex", "the Vertex AI orchestrator"
            ) from exc
        try:
            google.auth.default()
        except auth_errors.DefaultCredentialsError as exc:
            raise BackendError(
                "no Google credentials for Vertex AI: run `gcloud auth application-default login`"
            ) from exc
        return f"Vertex AI Pipelines in {self.project}/{self.location}"
