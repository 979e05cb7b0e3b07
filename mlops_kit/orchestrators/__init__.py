"""The orchestrator role: where pipelines run.

Backends by scheme: ``kfp-local`` (``kfp.local`` in subprocesses on this machine, offline),
``kfp+http://HOST`` / ``kfp+https://HOST`` (Kubeflow Pipelines on GKE) and
``vertex://PROJECT/LOCATION`` (Vertex AI Pipelines).

Every backend takes the same input, a pipeline compiled to KFP v2 YAML: what runs locally is what
runs on the cluster, only the build target of its components differs.
"""

from __future__ import annotations

import uuid
from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Final

from mlops_kit.backends import Backend, SchemeRegistry
from mlops_kit.errors import ConfigError, shorten

RUN_STATES: Final = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "UNKNOWN")
"""Run states of every backend, mapped from KFP's and Vertex AI's own names (:func:`run_state`)."""

_PLATFORM_STATES: Final = {
    "QUEUED": "PENDING",
    "PENDING": "PENDING",
    "RUNNING": "RUNNING",
    "PAUSED": "RUNNING",
    "SUCCEEDED": "SUCCEEDED",
    "SKIPPED": "SUCCEEDED",
    "FAILED": "FAILED",
    "CANCELING": "CANCELLED",
    "CANCELLING": "CANCELLED",
    "CANCELED": "CANCELLED",
    "CANCELLED": "CANCELLED",
}


def run_state(name: str) -> str:
    """The run state (one of :data:`RUN_STATES`) of a platform's state ``name``.

    KFP and Vertex AI name the same states (Vertex AI with a ``PIPELINE_STATE_`` prefix, which
    its backend strips), spelling cancellation either way; a skipped run has nothing left to do,
    a paused one is still under way. Any other name is ``UNKNOWN``.
    """
    return _PLATFORM_STATES.get(name, "UNKNOWN")


TaskEvent = Callable[[str, str], None]
"""Called with ``(task name, state)`` as a local run's tasks start (``RUNNING``) and end."""


@dataclass(frozen=True)
class PipelineSubmission:
    """One run of a compiled pipeline, as every orchestrator receives it.

    Attributes:
        package: the compiled pipeline (KFP v2 IR YAML).
        arguments: pipeline parameters by name.
        run_name: display name of the run (unique names are the caller's choice).
        pipeline_root: where the run keeps its artifacts (``gs://...`` in the cloud; a local
            directory for ``kfp-local``, which also keeps its run records there).
        service_account: the identity tasks run as (cloud backends).
        labels: labels attached to the run (Vertex AI) or recorded with it.
        experiment: the Kubeflow experiment that groups the runs (created when missing).
        submission_id: unique per submission (Vertex AI names its pipeline job after it, so two
            runs within one second never collide as the SDK's name-and-timestamp ids do).
    """

    package: Path
    arguments: Mapping[str, Any]
    run_name: str
    pipeline_root: str | None = None
    service_account: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    experiment: str | None = None
    submission_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])


@dataclass(frozen=True)
class PipelineRun:
    """A run as an orchestrator reports it.

    Attributes:
        run_id: the orchestrator's id of the run.
        name: its display name.
        state: one of :data:`RUN_STATES`.
        created_at: when it was submitted.
        finished_at: when it ended, if it did.
        url: where to look at it (a console URL or a local log file).
        outputs: the pipeline's outputs, when the run is synchronous (``kfp-local``).
        error: why it failed, in one line, when known.
    """

    run_id: str
    name: str
    state: str
    created_at: datetime | None = None
    finished_at: datetime | None = None
    url: str | None = None
    outputs: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class RecurringRun:
    """A schedule that submits a pipeline repeatedly.

    Attributes:
        schedule_id: the orchestrator's id of the schedule.
        name: its display name.
        cron: the cron expression (``minute hour day month weekday``).
        url: where to look at it.
    """

    schedule_id: str
    name: str
    cron: str
    url: str | None = None


class Orchestrator(Backend):
    """Runs compiled pipelines."""

    can_schedule: ClassVar[bool] = True
    """Whether :meth:`schedule` creates recurring runs; where it cannot (the local twin), a
    recurring job is the system's own (cron, CI) and the kit says what to run."""

    @abstractmethod
    def submit(
        self, submission: PipelineSubmission, on_task: TaskEvent | None = None
    ) -> PipelineRun:
        """Start one run of a compiled pipeline.

        Args:
            submission: the compiled pipeline and how to run it.
            on_task: progress callback for backends that run synchronously (``kfp-local``).

        Returns:
            The run: finished (``SUCCEEDED`` or ``FAILED``, with outputs or the error) when the
            backend runs synchronously, else as submitted (``PENDING``/``RUNNING``).

        Raises:
            ConfigError: the submission lacks what this backend needs (a pipeline root).
            BackendError: the orchestrator refused the run or is unreachable.
            MissingDependencyError: the backend's SDK is not installed.
        """

    @abstractmethod
    def schedule(
        self, submission: PipelineSubmission, cron: str, max_concurrency: int = 1
    ) -> RecurringRun:
        """Create a recurring run of a compiled pipeline.

        Args:
            submission: the compiled pipeline; ``run_name`` names the schedule.
            cron: when to run, a five-field cron expression in UTC.
            max_concurrency: how many runs of the schedule may overlap.

        Returns:
            The created schedule.

        Raises:
            ConfigError: the cron expression is malformed, or the backend cannot schedule.
            BackendError: the orchestrator refused the schedule or is unreachable.
        """

    @abstractmethod
    def list_runs(
        self, limit: int = 20, pipeline_root: str | None = None, name: str | None = None
    ) -> list[PipelineRun]:
        """The most recent runs, newest first.

        Args:
            limit: how many runs at most.
            pipeline_root: where ``kfp-local`` keeps its run records (cloud backends ignore it).
            name: only runs whose display name contains this (one pipeline's runs).

        Raises:
            BackendError: the orchestrator is unreachable.
        """


def check_cron(cron: str) -> str:
    """Return ``cron`` normalised if it is a valid five-field cron expression.

    The values are checked by a cron parser, not by their characters: ``61 * * * *`` (no minute
    61) and ``*/0 * * * *`` (a step of zero) are refused here rather than by the orchestrator.

    Raises:
        ConfigError: it does not have five fields, or a field is out of range or malformed.
    """
    from croniter import croniter

    fields = cron.split()
    if len(fields) != 5 or not croniter.is_valid(" ".join(fields)):
        raise ConfigError(
            f"malformed cron expression {shorten(cron)!r}: use five fields 'minute hour day month "
            "weekday' within their ranges (minute 0-59, hour 0-23, day 1-31, month 1-12, weekday "
            "0-7), e.g. '0 3 * * 1' for Mondays at 03:00 UTC"
        )
    return " ".join(fields)


ORCHESTRATORS: SchemeRegistry[Orchestrator] = SchemeRegistry("orchestrator", Orchestrator)
ORCHESTRATORS.register(["kfp-local"], "mlops_kit.orchestrators.local:LocalRunner", bare_word=True)
ORCHESTRATORS.register(["kfp+http", "kfp+https"], "mlops_kit.orchestrators.kubeflow:KubeflowRunner")
ORCHESTRATORS.register(["vertex"], "mlops_kit.orchestrators.vertex:VertexRunner")
