"""The kit's exception hierarchy.

Every error a user can cause is a :class:`MlopsKitError`: its message is one line that says what was
wrong, the offending value, and what to do. The CLI prints that line and exits non-zero; ``--debug``
shows the traceback.
"""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """The first line of what ``exc`` says, for one-line errors.

    Google API errors keep their text in ``message``; SQLAlchemy's in ``orig``, the driver's error.
    An exception that says nothing is named by its type.
    """
    said = getattr(exc, "message", None) or getattr(exc, "orig", None) or exc
    lines = str(said).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def shorten(text: str, limit: int = 120) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis, for quoting user input in a message.

    An error must stay one readable line even when it names a 100,000-character input.
    """
    return text if len(text) <= limit else text[: limit - 1] + "…"


class MlopsKitError(Exception):
    """Base class of every error the kit raises on purpose.

    Attributes:
        exit_code: the process exit code the CLI uses for this kind of error.
    """

    exit_code: int = 1


class ConfigError(MlopsKitError):
    """The environment or project configuration is missing, malformed or inconsistent."""

    exit_code = 2


class UnknownSchemeError(ConfigError):
    """A URI names a scheme no backend handles."""


class NotFoundError(MlopsKitError):
    """A named thing (environment, dataset, version, model, alias) does not exist."""

    exit_code = 3


class ConflictError(MlopsKitError):
    """The request contradicts stored state (an existing version path, a taken alias, ...)."""

    exit_code = 4


class IntegrityError(MlopsKitError):
    """Stored data failed verification (checksum mismatch, missing object)."""

    exit_code = 5


class BackendError(MlopsKitError):
    """A backend (database, warehouse, artifact store, orchestrator) failed or is unreachable."""

    exit_code = 6


class DryRunEnded(MlopsKitError):  # noqa: N818 - the end of a dry run, not a failure
    """A dry run reached its first query that processes data: what that query would process.

    Not a failure (exit code 0): the later steps of a command depend on the results of this
    query, so a dry run estimates this one and stops. A command that would change something
    before its first query (a store, a deploy target) stops there instead, with nothing changed
    (:meth:`before_change`).
    """

    exit_code = 0

    @classmethod
    def before_change(cls, command: str, change: str) -> DryRunEnded:
        """The end of a dry run of ``command`` that reached ``change`` before any query."""
        return cls(
            f"dry run: {command} would {change} before any BigQuery query; nothing was changed "
            "and nothing is estimated: run it without --dry-run"
        )


class MissingDependencyError(MlopsKitError):
    """An optional dependency needed by the chosen backend is not installed."""

    exit_code = 7

    @classmethod
    def for_module(cls, module: str, extra: str, purpose: str) -> MissingDependencyError:
        """Build the error for a missing optional import, naming the extra that provides it."""
        return cls(
            f"{purpose} needs the Python package '{module}', which is not installed: "
            f"run `pip install 'mlops-kit[{extra}]'`"
        )


class AdmissionRefusedError(MlopsKitError):
    """A cluster refused to run an image (Binary Authorization: no attestation of its digest)."""

    exit_code = 8
