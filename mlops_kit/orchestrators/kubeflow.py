"""Pipelines on Kubeflow Pipelines (standalone, on GKE), ``kfp+https://HOST[/PATH][?audience=AUD]``.

With ``audience`` (the OAuth client id of the Identity-Aware Proxy in front of KFP), every request
carries ``Authorization: Bearer`` with a Google ID token for that audience, minted from application
default credentials (a service account key file, or the metadata server of a workload). Requests go
through ``kfp_server_api``, the REST client that ``kfp.Client`` wraps: ``kfp.Client``
calls the server while it is constructed, whereas the request bodies built here can be checked
without a server.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import yaml
from typing_extensions import override

from mlops_kit.backends import import_sdk
from mlops_kit.errors import BackendError, ConfigError
from mlops_kit.orchestrators import (
    Orchestrator,
    PipelineRun,
    PipelineSubmission,
    RecurringRun,
    TaskEvent,
)


class KubeflowRunner(Orchestrator):
    """Submits compiled pipelines to a Kubeflow Pipelines API server."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        parts = urlsplit(uri.removeprefix("kfp+"))
        query = parse_qs(parts.query)
        unknown = set(query) - {"audience"}
        if unknown:
            raise ConfigError(
                f"unknown parameter {', '.join(sorted(unknown))!r} in orchestrator URI {uri!r}: "
                "the only one is '?audience=' (the OAuth client id of KFP's Identity-Aware Proxy)"
            )
        self.audience: str | None = query.get("audience", [None])[0]
        """Audience of the Google ID token each request carries (``None``: no credentials)."""
        self.host = urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")).rstrip("/")

    @override
    def check(self) -> str:
        request = urllib.request.Request(  # noqa: S310 - URL from config
            f"{self.host}/apis/v2beta1/healthz", headers=self._authorization()
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                health = json.load(response)
        except urllib.error.HTTPError as exc:
            raise BackendError(self._refused(exc.code, exc.reason, exc.read())) from exc
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BackendError(self._unreachable(reason)) from exc
        return f"Kubeflow Pipelines {health.get('commit_sha', '')[:8] or 'API'} at {self.host}"

    def run_request(
        self, submission: PipelineSubmission, experiment_id: str | None = None
    ) -> dict[str, Any]:
        """The body of ``POST /apis/v2beta1/runs`` for ``submission``."""
        return {
            "display_name": submission.run_name,
            "experiment_id": experiment_id,
            "pipeline_spec": _pipeline_spec(submission),
            "runtime_config": _runtime_config(submission),
            "service_account": submission.service_account,
        }

    def recurring_run_request(
        self,
        submission: PipelineSubmission,
        cron: str,
        max_concurrency: int = 1,
        experiment_id: str | None = None,
    ) -> dict[str, Any]:
        """The body of ``POST /apis/v2beta1/recurringruns`` for ``submission``.

        ``cron`` is a five-field expression as :meth:`schedule` checked it.
        """
        # A recurring run is a run with a trigger; KFP's cron has a leading seconds field.
        return {
            **self.run_request(submission, experiment_id),
            "max_concurrency": str(max_concurrency),
            "trigger": {"cron_schedule": {"cron": f"0 {cron}"}},
            "mode": "ENABLE",
            "no_catchup": True,
        }

    @override
    def _submit(self, submission: PipelineSubmission, on_task: TaskEvent | None) -> PipelineRun:
        with self._api() as api:
            experiment_id = self._experiment_id(api, submission.experiment)
            body = api.kfp_server_api.V2beta1Run(**self.run_request(submission, experiment_id))
            created = api.runs.run_service_create_run(body)
        return self._run(created)

    @override
    def _schedule(
        self, submission: PipelineSubmission, cron: str, max_concurrency: int
    ) -> RecurringRun:
        with self._api() as api:
            experiment_id = self._experiment_id(api, submission.experiment)
            request = self.recurring_run_request(submission, cron, max_concurrency, experiment_id)
            models = api.kfp_server_api
            request["trigger"] = models.V2beta1Trigger(
                cron_schedule=models.V2beta1CronSchedule(**request["trigger"]["cron_schedule"])
            )
            created = api.recurring.recurring_run_service_create_recurring_run(
                models.V2beta1RecurringRun(**request)
            )
        return RecurringRun(
            schedule_id=created.recurring_run_id,
            name=created.display_name,
            cron=cron,
            url=f"{self.host}/#/recurringrun/details/{created.recurring_run_id}",
        )

    @override
    def _list_runs(
        self, limit: int, pipeline_root: str | None, name: str | None
    ) -> list[PipelineRun]:
        with self._api() as api:
            predicates = [
                {"key": "display_name", "operation": "IS_SUBSTRING", "string_value": name}
            ]
            response = api.runs.run_service_list_runs(
                page_size=limit,
                sort_by="created_at desc",
                filter=json.dumps({"predicates": predicates}) if name else None,
            )
        return [self._run(run) for run in response.runs or []]

    @override
    def _poll(self, run_id: str, pipeline_root: str | None) -> PipelineRun:
        with self._api() as api:
            run = api.runs.run_service_get_run(run_id)
        details = (run.run_details.task_details if run.run_details else None) or []
        tasks = {
            task.display_name: str(task.state or "")
            for task in details
            # The task without a parent is the pipeline's root DAG, whose state is the run's.
            if task.display_name and task.parent_task_id
        }
        return replace(self._run(run), tasks=tasks)

    def _run(self, run: Any) -> PipelineRun:
        error = getattr(run.error, "message", None) if run.error else None
        return PipelineRun(
            run_id=run.run_id,
            name=run.display_name,
            state=str(run.state or ""),
            created_at=_timestamp(run.created_at),
            finished_at=_timestamp(run.finished_at),
            url=f"{self.host}/#/runs/details/{run.run_id}",
            error=error,
        )

    def _experiment_id(self, api: _Api, name: str | None) -> str | None:
        if not name:
            return None
        models = api.kfp_server_api
        predicate = {"key": "display_name", "operation": "EQUALS", "string_value": name}
        found = api.experiments.experiment_service_list_experiments(
            filter=json.dumps({"predicates": [predicate]}), page_size=1
        )
        if found.experiments:
            return str(found.experiments[0].experiment_id)
        created = api.experiments.experiment_service_create_experiment(
            models.V2beta1Experiment(display_name=name)
        )
        return str(created.experiment_id)

    @contextmanager
    def _api(self) -> Iterator[_Api]:
        kfp_server_api = import_sdk(
            "kfp_server_api",
            package="kfp",
            extra="pipelines",
            purpose="the Kubeflow Pipelines orchestrator",
        )
        import urllib3  # a dependency of kfp_server_api, present whenever it is

        client = kfp_server_api.ApiClient(kfp_server_api.Configuration(host=self.host))
        for name, value in self._authorization().items():
            client.set_default_header(name, value)
        try:
            yield _Api(kfp_server_api, client)
        except kfp_server_api.ApiException as exc:
            raise BackendError(self._refused(exc.status, exc.reason, exc.body)) from exc
        except (OSError, urllib3.exceptions.HTTPError) as exc:
            raise BackendError(self._unreachable(getattr(exc, "reason", exc))) from exc
        finally:
            client.close()

    def _authorization(self) -> dict[str, str]:
        """The ``Authorization`` header for :attr:`audience` (none without an audience)."""
        if self.audience is None:
            return {}
        import google.auth.exceptions
        import google.auth.transport.requests
        import google.oauth2.id_token

        try:
            token = google.oauth2.id_token.fetch_id_token(  # type: ignore[no-untyped-call]
                google.auth.transport.requests.Request(), self.audience
            )
        except google.auth.exceptions.GoogleAuthError as exc:
            raise BackendError(
                f"cannot get a Google ID token for Kubeflow Pipelines at {self.host} "
                f"(audience {self.audience}): {str(exc).splitlines()[0] if str(exc) else exc!r}; "
                "set GOOGLE_APPLICATION_CREDENTIALS to a service account key, or run as a "
                "workload with a service account (user credentials cannot mint ID tokens)"
            ) from exc
        return {"Authorization": f"Bearer {token}"}

    def _refused(self, status: object, reason: object, body: object) -> str:
        if isinstance(body, bytes):
            body = body.decode(errors="replace")
        detail = " ".join(str(body or "").split())[:300]
        if status in (401, 403):
            fix = (
                "add '?audience=<IAP OAuth client id>' to the kfp+https URI "
                "(`mlops-kit env import` takes it from the stack output kfp_audience)"
                if self.audience is None
                else f"the ID token's account must be one the proxy in front of KFP admits, and "
                f"its audience ({self.audience}) that proxy's OAuth client id"
            )
            return (
                f"Kubeflow Pipelines at {self.host} refused the credentials "
                f"({status} {reason}): {fix}"
            )
        return (
            f"Kubeflow Pipelines at {self.host} refused the request ({status} {reason}): {detail}"
        )

    def _unreachable(self, reason: object) -> str:
        return (
            f"Kubeflow Pipelines at {self.host} is unreachable ({reason}): it is private, "
            "reach it from the VPC or through `kubectl port-forward`"
        )


class _Api:
    def __init__(self, module: Any, client: Any) -> None:
        self.kfp_server_api = module
        self.runs = module.RunServiceApi(client)
        self.recurring = module.RecurringRunServiceApi(client)
        self.experiments = module.ExperimentServiceApi(client)


def _pipeline_spec(submission: PipelineSubmission) -> dict[str, Any]:
    try:
        documents = list(yaml.safe_load_all(submission.package.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read compiled pipeline {submission.package}: {exc}") from exc
    if len(documents) == 1:
        spec: dict[str, Any] = documents[0]
        return spec
    # A pipeline with platform-specific settings compiles to two documents.
    return {"pipeline_spec": documents[0], "platform_spec": documents[1]}


def _runtime_config(submission: PipelineSubmission) -> dict[str, Any]:
    return {
        "parameters": dict(submission.arguments),
        "pipeline_root": submission.pipeline_root,
    }


def _timestamp(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
