"""What the Google backends of every role share: credentials, errors, the Vertex AI SDK and labels.

Only backend modules import this; the practices never reach Google but through a role.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mlops_kit.backends import import_sdk
from mlops_kit.errors import BackendError


def require_google_credentials(service: str, *, package: str, extra: str) -> None:
    """Check that application default credentials exist for a Google ``service`` backend.

    Args:
        service: the service, in the user's words ("Vertex AI").
        package: the distribution whose SDK brings google-auth, named if it is missing.
        extra: the kit's extra that installs ``package``.

    Raises:
        BackendError: there are no credentials; the message says how to create them.
        MissingDependencyError: ``package`` is not installed.
    """
    google_auth = import_sdk("google.auth", package=package, extra=extra, purpose=service)
    try:
        google_auth.default()
    except google_auth.exceptions.DefaultCredentialsError as exc:
        raise BackendError(
            f"no Google credentials for {service}: run `gcloud auth application-default login`"
        ) from exc


def google_errors() -> tuple[type[Exception], ...]:
    """What a refused or unreachable Google call raises: API and credential errors, timeouts.

    Called where they are caught: a backend's Google SDK brings them.
    """
    try:
        from google.api_core import exceptions as api_errors
        from google.auth import exceptions as auth_errors
    except ImportError:  # without the SDK no call reaches Google (import_sdk said why)
        return (TimeoutError,)
    return (api_errors.GoogleAPIError, auth_errors.GoogleAuthError, TimeoutError)


def vertex_sdk(purpose: str) -> Any:
    """``google.cloud.aiplatform_v1``, the Vertex AI client library, imported on first use.

    Args:
        purpose: what needs it, in the user's words ("the Vertex AI endpoint deploy target").

    Raises:
        MissingDependencyError: google-cloud-aiplatform is not installed; the message names the
            extra ``vertex``.
    """
    return import_sdk(
        "google.cloud.aiplatform_v1",
        package="google-cloud-aiplatform",
        extra="vertex",
        purpose=purpose,
    )


def vertex_api_endpoint(uri: str, location: str) -> str:
    """The Vertex AI host a backend of ``uri`` calls in ``location``.

    ``?api_endpoint=HOST`` in the URI names another host than ``LOCATION-aiplatform.googleapis.com``
    (a Private Service Connect address, for example).
    """
    named = parse_qs(urlsplit(uri).query).get("api_endpoint", [""])[-1]
    return named or f"{location}-aiplatform.googleapis.com"


def vertex_label(value: str) -> str:
    """``value`` as a Vertex label value."""
    # Vertex labels: lower-case letters, digits, '_' and '-', at most 63 characters.
    return re.sub(r"[^a-z0-9_-]+", "-", value.lower())[:63]
