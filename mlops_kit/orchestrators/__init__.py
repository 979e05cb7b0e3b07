"""The orchestrator role: where pipelines run.

Backends by scheme: ``kfp-local`` (``kfp.local`` in subprocesses on this machine, offline),
``kfp+http://HOST`` / ``kfp+https://HOST`` (Kubeflow Pipelines on GKE) and
``vertex://PROJECT/LOCATION`` (Vertex AI Pipelines).

Every backend takes the same input, a pipeline compiled to KFP v2 YAML: what runs locally is what
runs on the cluster, only the build target of its components differs.
"""

from __future__ import annotations

import time
import uuid
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Final, final

from mlops_kit.backends import Backend, SchemeRegistry, redact_uri
from mlops_kit.errors import BackendError, ConfigError, shorten
from mlops_kit.progress import NO_PROGRESS, Progress

RUN_STATES: Final = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "UNKNOWN")
"""Run states of every backend, mapped from KFP's and Vertex AI's own names (:func:`run_state`)."""

_PLATFORM_STATES: Final = {
    "QUEUED": "PENDING",
    "PENDING": "PENDING",
    "RUNNING": "RUNNING",
    "PAUSED": "RUNNING",
    "SUCCEEDED": "SUCCEEDED",
    "SKIPPED": "SUCCEEDED",
    # A Vertex AI task whose condition was false: it has nothing left to do either.
    "NOT_TRIGGERED": "SUCCEEDED",
    "FAILED": "FAILED",
    "CANCEL_PENDING": "CANCELLED",
    "CANCELING": "CANCELLED",
    "CANCELLING": "CANCELLED",
    "CANCELED": "CANCELLED",
    "CANCELLED": "CANCELLED",
}


def run_state(name: str) -> str:
    """The run state (one of :data:`RUN_STATES`) of a platform's state ``name``.

    KFP and Vertex AI name the same states, of runs and of their tasks (Vertex AI's runs with a
    ``PIPELINE_STATE_`` prefix), spelling cancellation either way; a skipped run or task has
    nothing left to do, a paused one is still under way, and one the platform gives no state yet
    (KFP, just after submission) is pending. Any other name is ``UNKNOWN``.
    """
    if not name:
        return "PENDING"
    return _PLATFORM_STATES.get(name.removeprefix("PIPELINE_STATE_"), "UNKNOWN")


ENDED_STATES: Final = ("SUCCEEDED", "FAILED", "CANCELLED")
"""The states of a run that is over."""

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
        tasks: the state of each of its tasks that the orchestrator reports, by task name (one
            of :data:`RUN_STATES`), when polled (:meth:`Orchestrator.poll`).
    """

    run_id: str
    name: str
    state: str
    created_at: datetime | None = None
    finished_at: datetime | None = None
    url: str | None = None
    outputs: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    tasks: Mapping[str, str] = field(default_factory=dict)


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
    """Runs compiled pipelines.

    The public operations are the same for every orchestrator: :meth:`schedule` refuses a
    malformed cron expression (:func:`check_cron`) before the backend sees it, and the runs that
    :meth:`submit`, :meth:`poll` and :meth:`list_runs` return carry :data:`RUN_STATES` only,
    translated from the platform's names (:func:`run_state`). A backend implements
    :meth:`_submit`, :meth:`_schedule`, :meth:`_poll` and :meth:`_list_runs`, whose runs keep
    the states as its platform names them.
    """

    can_schedule: ClassVar[bool] = True
    """Whether :meth:`schedule` creates recurring runs; where it cannot (the local twin), a
    recurring job is the system's own (cron, CI) and the kit says what to run."""

    @final
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
            DryRunEnded: the kit is in a dry run; no run starts.
        """
        self.refuse_change(f"start pipeline run {submission.run_name!r} on {self._where()}")
        return _in_run_states(self._submit(submission, on_task))

    @final
    def schedule(
        self, submission: PipelineSubmission, cron: str, max_concurrency: int = 1
    ) -> RecurringRun:
        """Create a recurring run of a compiled pipeline.

        Args:
            submission: the compiled pipeline; ``run_name`` names the schedule.
            cron: when to run, a five-field cron expression in UTC.
            max_concurrency: how many runs of the schedule may overlap.

        Returns:
            The created schedule, with the cron expression normalised.

        Raises:
            ConfigError: the cron expression is malformed (nothing is sent), or the backend
                cannot schedule.
            BackendError: the orchestrator refused the schedule or is unreachable.
            DryRunEnded: the kit is in a dry run; no schedule is created.
        """
        cron = check_cron(cron)
        self.refuse_change(f"create schedule {submission.run_name!r} on {self._where()}")
        return self._schedule(submission, cron, max_concurrency)

    def _where(self) -> str:
        return f"the orchestrator {shorten(redact_uri(self.uri))}"

    @final
    def poll(self, run_id: str, pipeline_root: str | None = None) -> PipelineRun:
        """The run ``run_id`` as it stands now, with the state of its tasks.

        Args:
            run_id: the orchestrator's id of the run (:attr:`PipelineRun.run_id`).
            pipeline_root: where ``kfp-local`` keeps its run records (cloud backends ignore it).

        Raises:
            NotFoundError: ``kfp-local`` keeps no run of this id.
            BackendError: the orchestrator is unreachable or refuses (a cluster's unknown run).
        """
        return _in_run_states(self._poll(run_id, pipeline_root))

    @final
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
        return [_in_run_states(run) for run in self._list_runs(limit, pipeline_root, name)]

    @abstractmethod
    def _submit(self, submission: PipelineSubmission, on_task: TaskEvent | None) -> PipelineRun:
        """Start one run (see :meth:`submit`); its state as the platform names it."""

    @abstractmethod
    def _schedule(
        self, submission: PipelineSubmission, cron: str, max_concurrency: int
    ) -> RecurringRun:
        """Create a recurring run (see :meth:`schedule`) on the checked, normalised ``cron``."""

    @abstractmethod
    def _poll(self, run_id: str, pipeline_root: str | None) -> PipelineRun:
        """The run ``run_id`` (see :meth:`poll`), its and its tasks' states as the platform says."""

    @abstractmethod
    def _list_runs(
        self, limit: int, pipeline_root: str | None, name: str | None
    ) -> list[PipelineRun]:
        """The most recent runs (see :meth:`list_runs`); their states as the platform names them."""


def _in_run_states(run: PipelineRun) -> PipelineRun:
    """``run`` with its state and its tasks' states translated to :data:`RUN_STATES`."""
    tasks = {task: run_state(state) for task, state in run.tasks.items()}
    return replace(run, state=run_state(run.state), tasks=tasks)


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


def task_names(package: Path) -> list[str]:
    """The names of a compiled pipeline's top-level tasks, as orchestrators report its runs' tasks.

    Raises:
        ConfigError: the file is not a compiled pipeline.
    """
    import yaml

    try:
        # A pipeline with platform-specific settings has a second document; the first is the spec.
        spec = next(yaml.safe_load_all(package.read_text(encoding="utf-8")))
        return [str(name) for name in spec["root"]["dag"]["tasks"]]
    except (OSError, yaml.YAMLError, StopIteration, KeyError, TypeError) as exc:
        raise ConfigError(
            f"cannot read the tasks of compiled pipeline {package} ({shorten(str(exc))}): "
            "compile it again with `mlops-kit pipeline compile`"
        ) from exc


def follow(
    orchestrator: Orchestrator,
    run: PipelineRun,
    *,
    timeout: float,
    interval: float = 5.0,
    tasks: Sequence[str] = (),
    pipeline_root: str | None = None,
    progress: Progress = NO_PROGRESS,
) -> PipelineRun:
    """Poll ``run`` until it is over (:data:`ENDED_STATES`) and return it as it ended.

    Args:
        orchestrator: where the run was submitted.
        run: the run as submitted.
        timeout: how many seconds to wait at most.
        interval: seconds between two polls.
        tasks: the pipeline's task names (:func:`task_names`): the tasks counted, in that order
            (default: every task the orchestrator reports).
        pipeline_root: where ``kfp-local`` keeps its run records.
        progress: told, as it changes, how many tasks are done and which run or failed.

    Raises:
        BackendError: the run is not over after ``timeout`` seconds (it goes on regardless), or
            the orchestrator is unreachable.
        NotFoundError: ``kfp-local`` keeps no such run.
    """
    deadline = time.monotonic() + timeout
    told: tuple[str, int] | None = None
    while run.state not in ENDED_STATES:
        left = deadline - time.monotonic()
        if left <= 0:
            raise BackendError(
                f"pipeline run {run.run_id} is still {run.state} after {timeout:g} s; it goes on: "
                f"follow it at {run.url} or with `mlops-kit pipeline runs`, or wait longer "
                "(--timeout)"
            )
        time.sleep(min(interval, left))
        run = orchestrator.poll(run.run_id, pipeline_root)
        told = _tell(progress, run, tasks, told)
    return run


def _tell(
    progress: Progress, run: PipelineRun, expected: Sequence[str], told: tuple[str, int] | None
) -> tuple[str, int]:
    """Start a progress task when what is done, running or failed changed since ``told``."""
    names = expected or list(run.tasks)
    states = [(name, run.tasks.get(name, "PENDING")) for name in names]
    done = sum(state == "SUCCEEDED" for _, state in states)
    going = [f"{name} {state.lower()}" for name, state in states if state not in _QUIET]
    now = (f"{run.name}: {', '.join(going) or run.state.lower()}", done)
    if now != told:
        progress.start(now[0], total=len(names) or None, unit="tasks")
        progress.advance(done)
    return now


_QUIET: Final = ("PENDING", "SUCCEEDED")
"""Task states that progress counts rather than names."""


ORCHESTRATORS: SchemeRegistry[Orchestrator] = SchemeRegistry("orchestrator", Orchestrator)
ORCHESTRATORS.register(["kfp-local"], "mlops_kit.orchestrators.local:LocalRunner", bare_word=True)
ORCHESTRATORS.register(["kfp+http", "kfp+https"], "mlops_kit.orchestrators.kubeflow:KubeflowRunner")
ORCHESTRATORS.register(["vertex"], "mlops_kit.orchestrators.vertex:VertexRunner")
