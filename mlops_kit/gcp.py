"""What the Google backends of every role share: their SDKs, credentials, retry deadline, errors.

The one-line error of a service that stops answering is written here for all of them, and so are
the Vertex AI SDK, its endpoint and its label values. Only backend modules import this; the
practices never reach Google but through a role.
"""

from __future__ import annotations

import math
import os
import re
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, urlsplit

from mlops_kit.backends import import_sdk
from mlops_kit.errors import BackendError, ConfigError, first_line, shorten

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

RETRY_DEADLINE: Final = 30.0
"""Seconds a call to a Google service retries transient failures (5xx, refused or broken
connections) before it gives up, unless :data:`RETRY_DEADLINE_VARIABLE` says otherwise.

The libraries' defaults are 120 s (Cloud Storage) and 600 s (BigQuery): a command against a
service that is down would fail only after minutes of silence."""

RETRY_DEADLINE_VARIABLE: Final = "MLOPS_KIT_GOOGLE_RETRY_DEADLINE"
"""The environment variable that sets the retry deadline of every Google backend, in seconds."""

_MAX_RETRY_DEADLINE: Final = 3600.0

# Exceptions, by class name anywhere in their hierarchy, that say the service did not answer in
# time: the retry policy of google-api-core gave up, requests or google-auth could not connect,
# a job wait or the Cloud SQL connector (aiohttp) timed out. Names, not classes, so that no SDK is
# imported to recognise them and a backend whose SDK lacks one still works.
_UNREACHABLE: Final = frozenset(
    {
        "RetryError",
        "ConnectionError",
        "Timeout",
        "TimeoutError",
        "TransportError",
        "ClientConnectionError",
    }
)


def import_google_sdk(module: str, *, package: str, purpose: str) -> ModuleType:
    """Import the Google SDK ``module`` on first use; the ``gcp`` extra installs every one.

    Raises:
        MissingDependencyError: ``package`` is not installed; the message names the extra.
    """
    return import_sdk(module, package=package, extra="gcp", purpose=purpose)


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


def retry_deadline() -> float:
    """The seconds a Google call retries before it gives up (:data:`RETRY_DEADLINE_VARIABLE`).

    Without the variable, :data:`RETRY_DEADLINE`.

    Raises:
        ConfigError: the variable is not a number of seconds above 0 and at most an hour.
    """
    text = os.environ.get(RETRY_DEADLINE_VARIABLE)
    if text is None:
        return RETRY_DEADLINE
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= _MAX_RETRY_DEADLINE:  # also refuses nan and inf
        raise ConfigError(
            f"{RETRY_DEADLINE_VARIABLE}={shorten(text, 40)!r} is not a number of seconds above 0 "
            f"and at most {_MAX_RETRY_DEADLINE:g}: set it to one (the default is "
            f"{RETRY_DEADLINE:g}) or unset it"
        )
    return seconds


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says that a Google service did not answer within the retry deadline."""
    return not _UNREACHABLE.isdisjoint(cls.__name__ for cls in type(exc).__mro__)


def google_error(
    what: str,
    exc: BaseException,
    *,
    service: str,
    endpoint: Callable[[], str],
    deadline: float,
) -> BackendError:
    """The one-line error of a failed call to a Google ``service``.

    A service that did not answer within the retry deadline is named with its ``endpoint``, so an
    outage is told from a client sent to the wrong place (an ``*_EMULATOR_HOST`` left set, a
    proxy); missing credentials say how to create them; anything else says what the service said.

    Args:
        what: what failed, in the user's words ("cannot upload gs://b/m/1/model.bin").
        exc: the error the client raised.
        service: the service, in the user's words ("Cloud Storage", "BigQuery").
        endpoint: where the client sent its requests, asked only when the service did not answer
            (a client exists then; without credentials it does not).
        deadline: the seconds the call retried (:func:`retry_deadline`).
    """
    if type(exc).__name__ == "DefaultCredentialsError":
        return BackendError(
            f"no Google credentials for {service}: run `gcloud auth application-default login`"
        )
    if unreachable(exc):
        cause = getattr(exc, "cause", None) or exc
        return BackendError(
            f"{what}: gave up after retrying for {deadline:g} s (last error: {_said(cause)}); "
            f"check that {service} at {endpoint()} is reachable from here, then retry"
        )
    return BackendError(f"{what}: {first_line(exc)}")


def _said(error: BaseException) -> str:
    """What a failed request says, short: its HTTP status, or the system's connection error."""
    # Uploads and downloads fail with the response itself; its status says enough.
    status = getattr(getattr(error, "response", None), "status_code", None)
    if status:
        return f"HTTP {status}"
    text = first_line(error)
    # A refused or reset connection is wrapped three times by urllib3 and requests.
    system = re.search(r"\[Errno -?\d+\] ([^\"'()]+)", text)
    return system.group(1).strip() if system else shorten(text, 200) or type(error).__name__


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
