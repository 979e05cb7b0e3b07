"""What the Google backends of every role share: the credentials check, Vertex AI label values.

Only backend modules import this; the practices never reach Google but through a role.
"""

from __future__ import annotations

import re

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


def vertex_label(value: str) -> str:
    """``value`` as a Vertex label value."""
    # Vertex labels: lower-case letters, digits, '_' and '-', at most 63 characters.
    return re.sub(r"[^a-z0-9_-]+", "-", value.lower())[:63]
