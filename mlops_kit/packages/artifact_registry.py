"""Credentials for an Artifact Registry Python repository: an OAuth access token.

The repository takes the token of the application default credentials as the password of
``oauth2accesstoken``, as ``gcloud`` and Google's keyring plugin send it.
"""

from __future__ import annotations

from typing import Final

from mlops_kit.backends import import_sdk
from mlops_kit.errors import BackendError, first_line
from mlops_kit.gcp import require_google_credentials

_SCOPE: Final = "https://www.googleapis.com/auth/cloud-platform"


def access_token() -> str:
    """An access token of the application default credentials.

    Raises:
        BackendError: there are no credentials, or they cannot be refreshed.
        MissingDependencyError: google-auth is not installed.
    """
    require_google_credentials("Artifact Registry", package="google-cloud-storage", extra="gcp")
    google_auth = import_sdk(
        "google.auth", package="google-cloud-storage", extra="gcp", purpose="Artifact Registry"
    )
    transport = import_sdk(
        "google.auth.transport.requests",
        package="google-cloud-storage",
        extra="gcp",
        purpose="Artifact Registry",
    )
    credentials, _ = google_auth.default(scopes=[_SCOPE])
    try:
        credentials.refresh(transport.Request())
    except google_auth.exceptions.GoogleAuthError as exc:
        raise BackendError(
            f"cannot get an access token for Artifact Registry: {first_line(exc)}"
        ) from exc
    return str(credentials.token)
