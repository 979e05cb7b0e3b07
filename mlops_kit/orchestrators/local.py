"""Pipelines on this machine with ``kfp.local``, offline.

Each task runs in a subprocess of this interpreter (``SubprocessRunner(use_venv=False)``): nothing
is pip-installed at run time, so the pipeline must be compiled for the local build target. Runs are
synchronous; each keeps its artifacts, its log and a run record under the pipeline root.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import json
import re
import sys
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from typing_extensions import override

from mlops_kit.backends import redact_secrets
from mlops_kit.errors import BackendError, ConfigError, MissingDependencyError, NotFoundError
from mlops_kit.orchestrators import (
    Orchestrator,
    PipelineRun,
    PipelineSubmission,
    RecurringRun,
    TaskEvent,
)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TASK_STARTED = re.compile(r"Executing task '([^']+)'")
_TASK_ENDED = re.compile(r"Task '([^']+)' finished with status (\w+)")
_EXCEPTION = re.compile(r"^\s*(?:[A-Za-z_][\w.]*\.)?([A-Za-z_]\w*(?:Error|Exception)): (.+)$")
_STATES = {"SUCCESS": "SUCCEEDED", "FAILURE": "FAILED"}


class _LogTap(io.TextIOBase):
    """Writes what kfp.local prints to the run log and turns task lines into events."""

    def __init__(self, log: io.TextIOBase, on_task: TaskEvent | None) -> None:
        self.log = log
        self.on_task = on_task
        # Progress goes to the terminal that was there before kfp.local's output was captured.
        self.terminal = sys.stdout
        self.error: str | None = None
        self._pending = ""
        self._last_exception: str | None = None

    @override
    def write(self, text: str) -> int:
        # Components print their arguments, which carry the metadata URL and its password.
        self.log.write(redact_secrets(text))
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._line(_ANSI.sub("", line))
        return len(text)

    def _line(self, line: str) -> None:
        if found := _EXCEPTION.match(line):
            self._last_exception = f"{found[1]}: {found[2].strip()}"
        if found := _TASK_STARTED.search(line):
            self._last_exception = None
            self._emit(found[1], "RUNNING")
        elif found := _TASK_ENDED.search(line):
            state = _STATES.get(found[2], found[2])
            if state == "FAILED" and self.error is None:
                self.error = f"task {found[1]!r} failed: {self._last_exception or 'see the log'}"
            self._emit(found[1], state)

    def _emit(self, task: str, state: str) -> None:
        if self.on_task is not None:
            with contextlib.redirect_stdout(self.terminal):
                self.on_task(task, state)


class LocalRunner(Orchestrator):
    """Runs each pipeline step in a subprocess of this interpreter (``kfp-local``)."""

    runs_here = True
    can_schedule = False

    @override
    def check(self) -> str:
        try:
            version = importlib.metadata.version("kfp")
        except importlib.metadata.PackageNotFoundError as exc:
            raise MissingDependencyError.for_module(
                "kfp", "pipelines", "the kfp-local orchestrator"
            ) from exc
        return f"kfp {version}, local subprocess runner"

    @override
    def _submit(self, submission: PipelineSubmission, on_task: TaskEvent | None) -> PipelineRun:
        root = _local_root(submission.pipeline_root)
        try:
            from kfp import components, local
        except ImportError as exc:
            raise MissingDependencyError.for_module(
                "kfp", "pipelines", "the kfp-local orchestrator"
            ) from exc
        created = datetime.now(UTC)
        run_id = f"{submission.run_name}-{created:%Y%m%d-%H%M%S-%f}"
        run_dir = root / run_id
        run_dir.mkdir(parents=True)
        log_path = run_dir / "run.log"
        run = PipelineRun(run_id, submission.run_name, "RUNNING", created, url=str(log_path))
        _write_record(root, run)
        pipeline = components.load_component_from_file(str(submission.package))
        local.init(
            runner=local.SubprocessRunner(use_venv=False),
            pipeline_root=str(run_dir),
            raise_on_error=True,
        )
        with log_path.open("w", encoding="utf-8") as log:
            tap = _LogTap(log, on_task)
            try:
                with contextlib.redirect_stdout(tap):
                    task = pipeline(**submission.arguments)
                run = replace(run, state="SUCCEEDED", outputs=_plain_outputs(task.outputs))
            except RuntimeError as exc:
                error = tap.error or _ANSI.sub("", str(exc))
                run = replace(run, state="FAILED", error=error)
            except BaseException as exc:
                # Interrupted or refused before the tasks ran: the record must not say RUNNING.
                failed = replace(run, state="FAILED", error=f"{type(exc).__name__}: {exc}")
                _write_record(root, replace(failed, finished_at=datetime.now(UTC)))
                if isinstance(exc, TypeError):
                    raise ConfigError(
                        f"pipeline {submission.package} does not take the arguments it was given "
                        f"({exc}): its parameters and configs/ENV.yaml disagree"
                    ) from exc
                raise
        run = replace(run, finished_at=datetime.now(UTC))
        _write_record(root, run)
        return run

    @override
    def _schedule(
        self, submission: PipelineSubmission, cron: str, max_concurrency: int
    ) -> RecurringRun:
        raise ConfigError(
            "the local twin (kfp-local) cannot schedule recurring runs: run "
            "`mlops-kit pipeline run` from cron, or schedule in a cloud environment (--env dev)"
        )

    @override
    def _poll(self, run_id: str, pipeline_root: str | None) -> PipelineRun:
        # Runs here end before submit returns: their record is final.
        records = _local_root(pipeline_root) / "runs"
        path = records / f"{run_id}.json"
        if Path(run_id).name != run_id or not path.is_file():
            raise NotFoundError(
                f"no local pipeline run {run_id!r} in {records}: "
                "`mlops-kit pipeline runs` lists the runs"
            )
        return _read_record(path)

    @override
    def _list_runs(
        self, limit: int, pipeline_root: str | None, name: str | None
    ) -> list[PipelineRun]:
        records = _local_root(pipeline_root) / "runs"
        runs = [_read_record(path) for path in records.glob("*.json")] if records.is_dir() else []
        runs = [run for run in runs if not name or name in run.name]
        runs.sort(key=lambda run: run.created_at or datetime.min.replace(tzinfo=UTC), reverse=True)
        return runs[:limit]


def _local_root(pipeline_root: str | None) -> Path:
    if not pipeline_root or "://" in pipeline_root:
        raise ConfigError(
            f"kfp-local needs a local directory as pipeline root, got {pipeline_root!r}: "
            "set 'pipeline_root' of the environment to a path"
        )
    return Path(pipeline_root)


def _plain_outputs(outputs: dict[str, Any]) -> dict[str, Any]:
    # Parameters are plain values; artifacts are reported by their URI.
    return {
        name: value if isinstance(value, str | int | float) else getattr(value, "uri", str(value))
        for name, value in outputs.items()
    }


def _write_record(root: Path, run: PipelineRun) -> None:
    records = root / "runs"
    records.mkdir(parents=True, exist_ok=True)
    path = records / f"{run.run_id}.json"
    temporary = path.with_suffix(".tmp")
    record = json.dumps(asdict(run), default=str, indent=2)
    temporary.write_text(redact_secrets(record), encoding="utf-8")
    temporary.replace(path)


def _read_record(path: Path) -> PipelineRun:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        for key in ("created_at", "finished_at"):
            data[key] = datetime.fromisoformat(data[key]) if data.get(key) else None
        return PipelineRun(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise BackendError(f"unreadable local run record {path}: {exc}; delete it") from exc
