"""Retraining requests: what a failed check emits, and the handlers that act on it.

A handler is any callable ``(kit, request) -> str`` published under the Python entry point group
``mlops_kit.retraining``; it returns a reference to what it started (a pipeline run id, a ticket).
The pipelines package publishes ``pipeline``, which submits the project's training pipeline.
A project adds its own in its ``pyproject.toml``::

    [project.entry-points."mlops_kit.retraining"]
    notify = "my_project.hooks:notify_team"

Handlers decide about cooldown and budget themselves; monitoring only says why and on what.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Final

from mlops_kit.errors import BackendError, MlopsKitError, NotFoundError, shorten

if TYPE_CHECKING:
    from mlops_kit.kit import Kit

ENTRY_POINT_GROUP: Final = "mlops_kit.retraining"

RetrainingHandler = Callable[["Kit", "RetrainingRequest"], str]


@dataclass(frozen=True)
class RetrainingRequest:
    """Why monitoring asks for a new version of a model.

    Attributes:
        model_name: the registered model to retrain.
        model_version: the version whose check failed.
        reasons: one line per violation (``accuracy 0.41 < 0.80 on hour_of_day=3``).
        check_run_id: the monitoring run that found the violations (metadata DB id).
        training_data: dataset references the failing version was trained on.
        violations: the violations as plain data (metric, slice, value, threshold).
    """

    model_name: str
    model_version: int
    reasons: list[str]
    check_run_id: int | None = None
    training_data: list[str] = field(default_factory=list)
    violations: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The request as JSON-able data."""
        return asdict(self)


def retraining_handlers() -> dict[str, RetrainingHandler]:
    """The installed handlers by entry point name (loaded on call, not at import)."""
    return {ep.name: ep.load() for ep in entry_points(group=ENTRY_POINT_GROUP)}


def check_handler(handler: str) -> None:
    """Check that a handler named ``handler`` is installed (by name: no handler is imported).

    Raises:
        NotFoundError: none is, naming those that are.
    """
    installed = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if handler not in installed:
        raise NotFoundError(
            f"no retraining handler {shorten(handler)!r} in entry point group "
            f"{ENTRY_POINT_GROUP!r} (installed: {', '.join(sorted(installed)) or 'none'}): install "
            "the package that provides it or change 'retraining.handler' in the monitoring spec"
        )


def request_retraining(kit: Kit, request: RetrainingRequest, handler: str) -> str:
    """Hand ``request`` to the installed handler named ``handler``.

    Returns:
        What the handler returned (a reference to the run it started).

    Raises:
        NotFoundError: no handler of that name is installed.
        BackendError: the handler failed with an error that is not the kit's own.
    """
    check_handler(handler)
    try:
        return str(retraining_handlers()[handler](kit, request))
    except MlopsKitError:
        raise
    except Exception as exc:
        raise BackendError(
            f"retraining handler {handler!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
