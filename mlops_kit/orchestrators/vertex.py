"""Pipelines on Vertex AI Pipelines, ``vertex://PROJECT/LOCATION``.

google-cloud-aiplatform takes seconds to import: it is imported only when a run is built.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from typing_extensions import override

from mlops_kit.backends import import_sdk, two_part_uri
from mlops_kit.errors import BackendError, ConfigError
from mlops_kit.gcp import require_google_credentials
from mlops_kit.orchestrators import (
    Orchestrator,
    PipelineRun,
    PipelineSubmission,
    RecurringRun,
    TaskEvent,
)


class VertexRunner(Orchestrator):
    """Submits compiled pipelines to Vertex AI Pipelines."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        self.project, self.location = two_part_uri(uri, "Vertex URI", "vertex://PROJECT/LOCATION")

    @override
    def check(self) -> str:
        require_google_credentials("Vertex AI", package="google-cloud-aiplatform", extra="vertex")
        _aiplatform()  # names the extra when the package is missing
        from google.cloud import aiplatform_v1

        client = aiplatform_v1.PipelineServiceClient(
            client_options={"api_endpoint": f"{self.location}-aiplatform.googleapis.com"}
        )
        parent = f"projects/{self.project}/locations/{self.location}"
        with _vertex_errors(self):
            # One page of one job: the API answers, and the caller may list pipeline jobs.
            client.list_pipeline_jobs(request={"parent": parent, "page_size": 1}, timeout=30)
        return f"Vertex AI Pipelines in {self.project}/{self.location}"

    def pipeline_job(self, submission: PipelineSubmission, credentials: Any = None) -> Any:
        """The ``aiplatform.PipelineJob`` for ``submission`` (built offline, not yet submitted).

        Args:
            submission: the compiled pipeline and how to run it.
            credentials: Google credentials; default: the application default credentials.
        """
        if not submission.pipeline_root or not submission.pipeline_root.startswith("gs://"):
            raise ConfigError(
                f"Vertex AI Pipelines needs a gs:// pipeline root, got {submission.pipeline_root!r}: "
                "re-import the environment (`mlops-kit env import`) to set 'pipeline_root'"
            )
        aiplatform = _aiplatform()
        return aiplatform.PipelineJob(
            display_name=submission.run_name,
            job_id=job_id(submission),
            template_path=str(submission.package),
            pipeline_root=submission.pipeline_root,
            parameter_values=dict(submission.arguments),
            labels=dict(submission.labels),
            enable_caching=False,
            project=self.project,
            location=self.location,
            credentials=credentials,
        )

    @override
    def _submit(self, submission: PipelineSubmission, on_task: TaskEvent | None) -> PipelineRun:
        job = self.pipeline_job(submission)
        with _vertex_errors(self):
            job.submit(service_account=submission.service_account)
        return self._run(job)

    def pipeline_job_schedule(self, submission: PipelineSubmission, credentials: Any = None) -> Any:
        """The ``aiplatform.PipelineJobSchedule`` for ``submission`` (built offline, not created).

        Args:
            submission: the compiled pipeline; ``run_name`` names the schedule.
            credentials: Google credentials; default: the application default credentials.
        """
        job = self.pipeline_job(submission, credentials)
        return _aiplatform().PipelineJobSchedule(
            pipeline_job=job,
            display_name=submission.run_name,
            credentials=credentials,
            project=self.project,
            location=self.location,
        )

    @override
    def _schedule(
        self, submission: PipelineSubmission, cron: str, max_concurrency: int
    ) -> RecurringRun:
        schedule = self.pipeline_job_schedule(submission)
        with _vertex_errors(self):
            schedule.create(
                cron=cron,
                max_concurrent_run_count=max_concurrency,
                service_account=submission.service_account,
            )
        return RecurringRun(
            schedule_id=str(schedule.resource_name),
            name=submission.run_name,
            cron=cron,
            url=f"https://console.cloud.google.com/vertex-ai/pipelines/schedules?project={self.project}",
        )

    @override
    def _list_runs(
        self, limit: int, pipeline_root: str | None, name: str | None
    ) -> list[PipelineRun]:
        aiplatform = _aiplatform()
        with _vertex_errors(self):
            jobs = aiplatform.PipelineJob.list(
                filter=f'display_name="{name}"' if name else None,
                order_by="create_time desc",
                project=self.project,
                location=self.location,
            )
        return [self._run(job) for job in jobs[:limit]]

    @override
    def _poll(self, run_id: str, pipeline_root: str | None) -> PipelineRun:
        aiplatform = _aiplatform()
        with _vertex_errors(self):
            job = aiplatform.PipelineJob.get(run_id, project=self.project, location=self.location)
        tasks = {
            task.task_name: _name(task.state)
            for task in job.gca_resource.job_detail.task_details
            # The task without a parent is the pipeline itself, whose state is the run's.
            if task.parent_task_id
        }
        return replace(self._run(job), tasks=tasks)

    def _run(self, job: Any) -> PipelineRun:
        resource = job.gca_resource
        return PipelineRun(
            run_id=job.resource_name or resource.name,
            name=resource.display_name,
            state=_name(resource.state),
            created_at=resource.create_time or None,
            finished_at=resource.end_time or None,
            url=(
                f"https://console.cloud.google.com/vertex-ai/locations/{self.location}/pipelines/"
                f"runs/{resource.name.rsplit('/', 1)[-1]}?project={self.project}"
            ),
            error=resource.error.message or None if resource.error else None,
        )


def job_id(submission: PipelineSubmission) -> str:
    """The Vertex AI pipeline job id: the run name and the submission id, as Vertex AI allows.

    Ids match ``[a-z][a-z0-9-]{0,127}``; the submission id at the end keeps them unique.
    """
    name = re.sub(r"[^a-z0-9-]+", "-", submission.run_name.lower()).strip("-") or "run"
    if not name[0].isalpha():
        name = f"run-{name}"
    suffix = f"-{submission.submission_id}"
    return name[: 128 - len(suffix)].rstrip("-") + suffix


def _name(state: Any) -> str:
    """The name of a Vertex AI state enum (as the REST and gRPC transports give it)."""
    return str(getattr(state, "name", state))


def _aiplatform() -> Any:
    return import_sdk(
        "google.cloud.aiplatform",
        package="google-cloud-aiplatform",
        extra="vertex",
        purpose="the Vertex AI orchestrator",
    )


@contextmanager
def _vertex_errors(runner: VertexRunner) -> Iterator[None]:
    """Turn Google API and credential errors into one-line backend errors."""
    from google.api_core import exceptions as api_errors
    from google.auth import exceptions as auth_errors

    try:
        yield
    except auth_errors.DefaultCredentialsError as exc:
        raise BackendError(
            "no Google credentials for Vertex AI: run `gcloud auth application-default login`"
        ) from exc
    except api_errors.GoogleAPIError as exc:
        where = f"{runner.project}/{runner.location}"
        raise BackendError(f"Vertex AI Pipelines in {where} refused the request: {exc}") from exc
