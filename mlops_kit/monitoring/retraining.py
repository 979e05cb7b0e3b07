"""Retraining requests: what a failed check emits, and the handlers that act on it.

A handler is any callable ``(kit, request) -> str | HandlerResult`` published under the Python
entry point group ``mlops_kit.retraining``; it returns a reference to what it started (a pipeline
run id, a ticket), or a :class:`HandlerResult` that also says whether the run is still going and
whether its candidate was promoted. The pipelines package publishes ``pipeline``, which submits
the project's training pipeline.
A project adds its own in its ``pyproject.toml``::

    [project.entry-points."mlops_kit.retraining"]
    notify = "my_project.hooks:notify_team"

Cooldown, budget and duplicates are the monitoring spec's guards (:mod:`mlops_kit.monitoring.guards`),
enforced before a handler is called: a handler only starts what it is asked to.
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

RetrainingHandler = Callable[["Kit", "RetrainingRequest"], "str | HandlerResult"]


@dataclass(frozen=True)
class HandlerResult:
    """What a handler started.

    Attributes:
        reference: one line for people and records (a run id, with the gate's decision when the
            run finished).
        run_id: the orchestrator's id of a run still going elsewhere (a cluster), which the loop
            follows so that no second run starts while it is in flight; ``None``: nothing to follow.
        promoted: whether the run's candidate became the champion, when the run finished here.
    """

    reference: str
    run_id: str | None = None
    promoted: bool | None = None


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


def request_retraining(kit: Kit, request: RetrainingRequest, handler: str) -> HandlerResult:
    """Hand ``request`` to the installed handler named ``handler``.

    Returns:
        What the handler started (a plain reference is wrapped, with nothing to follow).

    Raises:
        NotFoundError: no handler of that name is installed.
        BackendError: the handler failed with an error that is not the kit's own.
    """
    check_handler(handler)
    try:
        started = retraining_handlers()[handler](kit, request)
    except MlopsKitError:
        raise
    except Exception as exc:
        raise BackendError(
            f"retraining handler {handler!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    return started if isinstance(started, HandlerResult) else HandlerResult(str(started))
