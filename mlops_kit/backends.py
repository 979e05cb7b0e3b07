"""Backends chosen by URI scheme.

Each role of an environment (warehouse, artifacts, metadata, orchestrator) keeps a
:class:`SchemeRegistry` that maps URI schemes to the dotted path of the class that serves them:
the kit's own backends, registered next to the role's interface, and those that installed packages
declare in the role's entry-point group (``mlops_kit.<role>``, name = scheme, value =
``"module:Class"``). Implementations are imported only when a URI of their scheme is resolved, so
choosing the local twin never imports a cloud SDK.
"""

from __future__ import annotations

import importlib
import re
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterable
from types import ModuleType
from typing import ClassVar, Generic, TypeVar, cast, final
from urllib.parse import urlsplit

from mlops_kit.errors import (
    BackendError,
    ConfigError,
    DryRunEnded,
    MissingDependencyError,
    UnknownSchemeError,
    first_line,
    shorten,
)

T = TypeVar("T", bound="Backend")

_SECRET_QUERY_KEYS = ("password", "token", "secret", "key")
_USERINFO_PASSWORD = re.compile(r"(//[^/@:]*:)[^/@]*@")
_URI_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@'\"]*:)[^@\s/'\"]+@")
_QUERY_SECRET = re.compile(
    r"([?&][A-Za-z_]*(?:password|token|secret|key)[A-Za-z_]*=)[^&\s'\"]+", re.IGNORECASE
)


def uri_scheme(uri: str) -> str:
    """Return the lower-cased scheme of ``uri``; a bare word such as ``kfp-local`` is its own scheme.

    Raises:
        ConfigError: ``uri`` is empty or has no scheme.
    """
    text = uri.strip()
    if not text:
        raise ConfigError("empty URI: give a URI such as 'file:///path' or 'gs://bucket/prefix'")
    if "://" not in text and ":" not in text:
        return text.lower()
    try:
        scheme = urlsplit(text).scheme.lower()
    except ValueError as exc:  # an unclosed IPv6 bracket
        raise ConfigError(f"malformed URI {shorten(redact_uri(uri))!r}: {exc}") from exc
    if not scheme:
        raise ConfigError(
            f"malformed URI {shorten(redact_uri(uri))!r}: it has no scheme (expected 'scheme://...')"
        )
    return scheme


def two_part_uri(uri: str, what: str, form: str) -> tuple[str, str]:
    """The host and the single path segment of a URI of the form ``scheme://FIRST/SECOND``.

    Args:
        uri: the URI.
        what: what it names, in errors ("Vertex URI").
        form: the expected form, in errors (``vertex://PROJECT/LOCATION``).

    Raises:
        ConfigError: ``uri`` lacks either part or has more path segments.
    """
    parts = urlsplit(uri)
    second = parts.path.strip("/")
    if not parts.netloc or not second or "/" in second:
        raise ConfigError(f"malformed {what} {uri!r}: use {form!r}")
    return parts.netloc, second


def redact_uri(uri: str) -> str:
    """Hide the password of ``uri`` and the values of secret-looking query parameters.

    A URI too malformed to parse still loses whatever stands between ``user:`` and ``@``. The
    result is whole (a run parameter is read back from it); messages cut it with
    :func:`~mlops_kit.errors.shorten`.
    """
    try:
        parts = urlsplit(uri)
    except ValueError:
        return _USERINFO_PASSWORD.sub(r"\1***@", uri)
    redacted = uri
    userinfo, at, _host = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        user = userinfo.split(":", 1)[0]
        redacted = redacted.replace(f"//{userinfo}@", f"//{user}:***@", 1)
    for pair in parts.query.split("&") if parts.query else ():
        key, separator, value = pair.partition("=")
        if separator and value and any(word in key.lower() for word in _SECRET_QUERY_KEYS):
            redacted = redacted.replace(pair, f"{key}=***", 1)
    return redacted


def redact_secrets(text: str) -> str:
    """``text`` with the password of every URI in it and secret-looking query values hidden.

    For free text that may quote a URI anywhere: logs, run records, reports, error messages.
    """
    return _QUERY_SECRET.sub(r"\1***", _URI_PASSWORD.sub(r"\1***@", text))


def import_sdk(module: str, *, package: str, extra: str, purpose: str) -> ModuleType:
    """Import the optional SDK ``module`` on first use by a backend.

    Args:
        module: the dotted module to import, such as ``google.cloud.bigquery``.
        package: the distribution that provides it, named in the error.
        extra: the kit's extra that installs ``package``.
        purpose: what needs it, in the user's words ("the BigQuery warehouse").

    Raises:
        MissingDependencyError: ``package`` is not installed; the message names the extra.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError.for_module(package, extra, purpose) from exc


class SchemeRegistry(Generic[T]):
    """Maps URI schemes to lazily imported backend classes for one role.

    Args:
        role: the environment role this registry serves, used in error messages and in the name of
            its entry-point group, ``mlops_kit.<role>``.
        base: the interface every registered class implements.
    """

    def __init__(self, role: str, base: type) -> None:
        self.role = role
        self.base = base
        self.entry_point_group = f"mlops_kit.{role}"
        self._targets: dict[str, str] = {}
        self._bare_words: set[str] = set()
        self._installed: tuple[tuple[str, ...], dict[str, str]] | None = None

    def register(self, schemes: Iterable[str], target: str, *, bare_word: bool = False) -> None:
        """Register ``target`` (``"package.module:ClassName"``) for each of ``schemes``.

        Args:
            schemes: the URI schemes ``target`` serves.
            target: where the backend class is.
            bare_word: the URI is the scheme alone (``kfp-local``), not ``scheme://...``.
        """
        for scheme in schemes:
            self._targets[scheme.lower()] = target
            if bare_word:
                self._bare_words.add(scheme.lower())

    def installed(self) -> dict[str, str]:
        """The targets that installed packages declare in :attr:`entry_point_group`, by scheme.

        Read again whenever ``sys.path`` changes; the kit's own registrations win over them.
        """
        path = tuple(sys.path)
        if self._installed is None or self._installed[0] != path:
            # Imported here: reading package metadata is needed to resolve a URI, not to start.
            import importlib.metadata

            declared = importlib.metadata.entry_points(group=self.entry_point_group)
            self._installed = (path, {entry.name.lower(): entry.value for entry in declared})
        return self._installed[1]

    @property
    def registered(self) -> dict[str, str]:
        """The kit's own backends: ``"module:Class"`` by scheme."""
        return dict(self._targets)

    @property
    def targets(self) -> dict[str, str]:
        """Every known scheme and the ``"module:Class"`` that serves it."""
        return self.installed() | self._targets

    @property
    def schemes(self) -> list[str]:
        """The known schemes, sorted."""
        return sorted(self.targets)

    def is_bare_word(self, uri: str) -> bool:
        """Whether ``uri`` is a scheme registered to be written alone (``kfp-local``)."""
        return uri.strip().lower() in self._bare_words

    def check(self, uri: str) -> str:
        """Return the scheme of ``uri`` if a backend is registered for it.

        Raises:
            UnknownSchemeError: no backend handles the scheme; the message lists the known ones.
        """
        scheme = uri_scheme(uri)
        if scheme not in self.targets:
            known = ", ".join(s if s in self._bare_words else f"{s}://" for s in self.schemes)
            raise UnknownSchemeError(
                f"unknown {self.role} scheme {shorten(scheme)!r} in {shorten(redact_uri(uri))!r}: "
                f"use one of {known}"
            )
        return scheme

    def resolve(self, uri: str) -> type[T]:
        """Import and return the backend class for ``uri`` (its capabilities are class attributes).

        Raises:
            UnknownSchemeError: no backend handles the scheme.
            BackendError: an installed package declares a backend that cannot be loaded.
        """
        scheme = self.check(uri)
        target = self.targets[scheme]
        module_name, _, attribute = target.partition(":")
        try:
            backend = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            if scheme in self._targets:
                raise  # the kit's own backends import: anything else is a bug
            raise BackendError(
                f"cannot load the {self.role} backend of {scheme!r} ({target}, declared in entry "
                f"point group {self.entry_point_group}): {first_line(exc)}; reinstall the package "
                "that declares it or uninstall it"
            ) from exc
        if not (isinstance(backend, type) and issubclass(backend, self.base)):
            raise BackendError(
                f"the {self.role} backend of {scheme!r} ({target}) is not a "
                f"{self.base.__name__}: fix the entry point of the package that declares it"
            )
        return cast("type[T]", backend)

    def open(self, uri: str) -> T:
        """Return the backend serving ``uri`` (it connects on first use, not here).

        Raises:
            UnknownSchemeError: no backend serves the URI's scheme.
            ConfigError: the URI is malformed for its backend.
        """
        backend = self.resolve(uri)
        try:
            return backend(uri)
        except ValueError as exc:  # what urllib and SQLAlchemy raise on a malformed URI
            raise ConfigError(
                f"malformed {self.role} URI {shorten(redact_uri(uri))!r}: {first_line(exc)}"
            ) from exc


class Backend(ABC):
    """What every role backend shares: the URI it serves, a health check, and no change in a dry run.

    Args:
        uri: the role URI from the environment.
    """

    runs_here: ClassVar[bool] = False
    """Whether the backend serves from this machine without a cloud account (the local twin and
    its variants): an orchestrator then runs tasks with this interpreter and keeps its records
    in a local directory."""

    dry_run_command: str | None = None
    """The command a dry run runs (``models promote``), while the kit is in one: the backend then
    refuses every change it would make, before making it (:meth:`refuse_change`)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    @final
    def refuse_change(self, change: str) -> None:
        """End a dry run before ``change`` (``write the artifact store (URI)``) happens.

        Outside a dry run, nothing: the caller goes on and makes the change.

        Raises:
            DryRunEnded: the kit is in a dry run; the message names the command and ``change``.
        """
        if self.dry_run_command is not None:
            raise DryRunEnded.before_change(self.dry_run_command, change)

    @abstractmethod
    def check(self) -> str:
        """Verify that the backend is reachable and usable, creating local state on first use.

        Returns:
            A one-line description of what was checked (shown by ``mlops-kit doctor``).

        Raises:
            BackendError: the backend is unreachable or unusable; the message says why.
            MissingDependencyError: the backend needs an optional package that is not installed.
        """
