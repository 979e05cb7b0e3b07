"""Vertex AI's v1 REST API on loopback, for the real google-cloud-aiplatform client.

The client reaches it through its ``api_endpoint`` client option with the REST transport
(``aiplatform.init(api_endpoint=..., api_transport="rest")``, or a GAPIC client's
``client_options``). It answers what the kit calls and records every request with its JSON body:

- PipelineService: ``pipelineJobs`` create, get and list (a created job is ``PENDING``; an id
  taken is refused, as Vertex refuses it; each get finds it a step further through
  :attr:`FakeVertex.tasks`, see :class:`~tests.cloud_twin.runs.Progression`);
- ScheduleService: ``schedules`` create, get and list (a created schedule is ``ACTIVE``);
- ModelService: ``models:upload``, a long-running operation that completes at once (its response
  names the model and the new version id; a ``parentModel`` upload adds a version), ``models``
  list (a ``labels.KEY="VALUE" AND ...`` filter is honoured) and ``operations`` get;
- EndpointService: ``endpoints`` get, ``:deployModel`` and ``:undeployModel``, long-running
  operations that complete at once. Like Vertex AI they refuse a traffic split that does not add
  up to 100 or names a model the endpoint does not serve, a model that was never uploaded, a
  deployment without dedicated resources, and an undeployment that would leave traffic on the
  undeployed model. An endpoint exists once :meth:`FakeVertex.create_endpoint` made it (the
  infrastructure program creates it);
- PredictionService: ``endpoints:predict``, answered by the deployed model with the largest share
  of the traffic (each prediction is its display name). A dedicated endpoint answers only on its
  own host and a Private Service Connect endpoint only on its forwarding rule's (each a server of
  its own on loopback), and the regional host refuses both, as Vertex AI does.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.cloud_twin.http import LoopbackFake, LoopbackServer, Reply, dispatch, error
from tests.cloud_twin.runs import Progression

CREATED = "2026-11-02T03:00:00Z"
ENDED = "2026-11-02T03:20:30Z"
"""When every pipeline job that ends ends."""
"""The creation time of every resource the fake makes."""


class FakeVertex(LoopbackFake):
    """Pipeline jobs, schedules and model uploads kept in memory; every request recorded."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.pipeline_jobs: dict[str, dict[str, Any]] = {}
        self.tasks: list[str] = []
        """The tasks a pipeline job created from now on goes through as it is read, in order."""
        self.outcome = "SUCCEEDED"
        """How such a job ends (``RUNNING``: it never does)."""
        self.progressions: dict[str, Progression] = {}
        self.schedules: dict[str, dict[str, Any]] = {}
        self.models: dict[str, list[dict[str, Any]]] = {}
        """The uploaded versions of each model resource name, in order."""
        self.operations: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.refusal: str | None = None
        """When set, every request is refused with 403 and this message (a missing permission)."""
        self.prediction_hosts: dict[str, LoopbackServer] = {}
        """The endpoint's own prediction server (dedicated DNS or PSC forwarding rule), by name."""
        self.lock = threading.Lock()
        super().__init__()

    def stop(self) -> None:
        """Stop serving, the endpoints' own prediction hosts too."""
        for server in self.prediction_hosts.values():
            server.stop()
        super().stop()

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``: the ``api_endpoint`` of the REST transport."""
        return self.server.url

    def posted(self, suffix: str) -> list[Any]:
        """The bodies POSTed to paths ending with ``suffix`` (query string aside), in order."""
        return [
            body
            for method, path, body in self.requests
            if method == "POST" and urlsplit(path).path.endswith(suffix)
        ]

    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        """Answer one request of the v1 REST API."""
        parsed = json.loads(body) if body else None
        parts = urlsplit(path)
        query = parse_qs(parts.query)
        route = unquote(parts.path).removeprefix("/v1/")
        host = headers.get("host", "")
        with self.lock:
            self.requests.append((method, path, parsed))
            if self.refusal:
                return error(403, self.refusal, "forbidden")
            own = [
                name for name, s in self.prediction_hosts.items() if urlsplit(s.url).netloc == host
            ]
            if own:
                # An endpoint's own host answers predictions of that endpoint alone.
                return dispatch(
                    [
                        (
                            "POST",
                            rf"({re.escape(own[0])}):predict",
                            lambda e: self.predict(e, parsed),
                        )
                    ],
                    method,
                    route,
                    f"Vertex AI endpoint {own[0]}'s prediction host",
                )
            routes: list[tuple[str, str, Any]] = [
                (
                    "POST",
                    r"(projects/[^/]+/locations/[^/]+)/pipelineJobs",
                    lambda p: self.create_job(p, parsed, query),
                ),
                (
                    "GET",
                    r"(projects/[^/]+/locations/[^/]+)/pipelineJobs",
                    lambda p: self.list_jobs(p, query),
                ),
                (
                    "GET",
                    r"projects/[^/]+/locations/[^/]+/pipelineJobs/[^/]+",
                    lambda: self.read_job(route),
                ),
                (
                    "POST",
                    r"(projects/[^/]+/locations/[^/]+)/schedules",
                    lambda p: self.create_schedule(p, parsed),
                ),
                (
                    "GET",
                    r"(projects/[^/]+/locations/[^/]+)/schedules",
                    lambda p: self.list_schedules(p),
                ),
                (
                    "GET",
                    r"projects/[^/]+/locations/[^/]+/schedules/[^/]+",
                    lambda: self.get(self.schedules, route),
                ),
                (
                    "POST",
                    r"(projects/[^/]+/locations/[^/]+)/models:upload",
                    lambda p: self.upload_model(p, parsed),
                ),
                (
                    "GET",
                    r"(projects/[^/]+/locations/[^/]+)/models",
                    lambda p: self.list_models(p, query),
                ),
                (
                    "GET",
                    r"projects/[^/]+/locations/[^/]+/endpoints/[^/:]+",
                    lambda: self.get(self.endpoints, route),
                ),
                (
                    "POST",
                    r"(projects/[^/]+/locations/[^/]+/endpoints/[^/:]+):deployModel",
                    lambda e: self.deploy_model(e, parsed),
                ),
                (
                    "POST",
                    r"(projects/[^/]+/locations/[^/]+/endpoints/[^/:]+):undeployModel",
                    lambda e: self.undeploy_model(e, parsed),
                ),
                (
                    "POST",
                    r"(projects/[^/]+/locations/[^/]+/endpoints/[^/:]+):predict",
                    lambda e: self.refuse_shared_host(e) or self.predict(e, parsed),
                ),
                ("GET", r"projects/.+/operations/[^/]+", lambda: self.get(self.operations, route)),
            ]
            return dispatch(routes, method, route, "Vertex AI")

    @staticmethod
    def get(resources: dict[str, dict[str, Any]], name: str) -> Reply:
        """A stored resource by name."""
        if name not in resources:
            return error(404, f"{name} not found", "notFound")
        return 200, resources[name]

    def create_job(self, parent: str, body: dict[str, Any], query: dict[str, list[str]]) -> Reply:
        """``pipelineJobs.create``: the job, named by ``pipelineJobId``, starts ``PENDING``."""
        job_id = query.get("pipelineJobId", [f"job-{len(self.pipeline_jobs) + 1}"])[0]
        name = f"{parent}/pipelineJobs/{job_id}"
        if name in self.pipeline_jobs:
            return error(409, f"PipelineJob {name} already exists.", "alreadyExists")
        job = {**body, "name": name, "state": "PIPELINE_STATE_PENDING", "createTime": CREATED}
        self.pipeline_jobs[name] = job
        self.progressions[name] = Progression(list(self.tasks), self.outcome)
        return 200, job

    def read_job(self, name: str) -> Reply:
        """``pipelineJobs.get``: the job a step further, with a task detail per task."""
        if name not in self.pipeline_jobs:
            return error(404, f"{name} not found", "notFound")
        job = self.pipeline_jobs[name]
        state, tasks = self.progressions[name].read()
        root = job.get("pipelineSpec", {}).get("pipelineInfo", {}).get("name", "pipeline")
        details = [{"taskId": "1", "taskName": root, "state": state}]
        details += [
            {"taskId": str(i), "parentTaskId": "1", "taskName": task, "state": value}
            for i, (task, value) in enumerate(tasks.items(), start=2)
        ]
        job.update(state=f"PIPELINE_STATE_{state}", jobDetail={"taskDetails": details})
        if state != "RUNNING":
            job["endTime"] = ENDED
        failed = [task for task, value in tasks.items() if value == "FAILED"]
        if failed:
            job["error"] = {
                "code": 9,
                "message": f"The DAG failed because task {failed[0]} failed.",
            }
        return 200, job

    def list_jobs(self, parent: str, query: dict[str, list[str]]) -> Reply:
        """``pipelineJobs.list``, newest first; a ``display_name="..."`` filter is honoured."""
        wanted = re.fullmatch(r'display_name="(.*)"', query.get("filter", [""])[0])
        jobs = [
            job
            for name, job in reversed(self.pipeline_jobs.items())
            if name.startswith(parent) and (not wanted or job.get("displayName") == wanted.group(1))
        ]
        return 200, {"pipelineJobs": jobs}

    def create_schedule(self, parent: str, body: dict[str, Any]) -> Reply:
        """``schedules.create``: the schedule starts ``ACTIVE``."""
        name = f"{parent}/schedules/{len(self.schedules) + 1}"
        schedule = {**body, "name": name, "state": "ACTIVE", "createTime": CREATED}
        self.schedules[name] = schedule
        return 200, schedule

    def list_schedules(self, parent: str) -> Reply:
        """``schedules.list``."""
        return 200, {"schedules": [s for n, s in self.schedules.items() if n.startswith(parent)]}

    def create_endpoint(
        self, project: str, location: str, endpoint_id: str, access: str = "public"
    ) -> str:
        """An endpoint serving nothing yet; its resource name.

        Args:
            access: ``public`` (predictions on the regional host), ``dedicated`` (on a DNS name
                of its own: :attr:`prediction_hosts`, which the endpoint names) or
                ``private-service-connect`` (on the forwarding rule the consumer made: the
                :attr:`prediction_hosts` server, which the endpoint does not name).
        """
        name = f"projects/{project}/locations/{location}/endpoints/{endpoint_id}"
        endpoint: dict[str, Any] = {
            "name": name,
            "displayName": endpoint_id,
            "createTime": CREATED,
            "deployedModels": [],
            "trafficSplit": {},
        }
        if access != "public":
            self.prediction_hosts[name] = LoopbackServer(self.route).start()
        if access == "dedicated":
            endpoint.update(
                dedicatedEndpointEnabled=True, dedicatedEndpointDns=self.prediction_hosts[name].url
            )
        elif access == "private-service-connect":
            endpoint["privateServiceConnectConfig"] = {
                "enablePrivateServiceConnect": True,
                "projectAllowlist": [project],
            }
        self.endpoints[name] = endpoint
        return name

    def refuse_shared_host(self, endpoint: str) -> Reply | None:
        """Vertex AI's refusal of a prediction on the regional host for a private or dedicated
        endpoint; ``None`` for a public one."""
        served = self.endpoints.get(endpoint, {})
        if served.get("dedicatedEndpointEnabled"):
            return error(
                400,
                f"Endpoint {endpoint} is a dedicated endpoint and cannot be reached through the "
                f"shared domain: use its dedicated DNS name {served['dedicatedEndpointDns']}",
            )
        if served.get("privateServiceConnectConfig", {}).get("enablePrivateServiceConnect"):
            return error(
                400,
                f"Endpoint {endpoint} is a Private Service Connect endpoint: send predictions "
                "through a forwarding rule of an allowed project",
            )
        return None

    def predict(self, endpoint: str, body: dict[str, Any]) -> Reply:
        """``endpoints.predict``: the deployed model with the largest traffic share answers."""
        if endpoint not in self.endpoints:
            return error(404, f"Endpoint {endpoint} not found.", "notFound")
        served = self.endpoints[endpoint]
        if not served["deployedModels"]:
            return error(400, f"Endpoint {endpoint} has no deployed model.")
        share = served["trafficSplit"]
        answering = max(served["deployedModels"], key=lambda m: share.get(m["id"], 0))
        return 200, {
            "predictions": [answering["displayName"] for _ in body.get("instances", [])],
            "deployedModelId": answering["id"],
            "model": answering["model"],
        }

    def list_models(self, parent: str, query: dict[str, list[str]]) -> Reply:
        """``models.list``: the newest version of each model; label filters are honoured."""
        wanted = dict(
            re.findall(r'labels\.([a-z0-9_-]+)\s*=\s*"([^"]*)"', query.get("filter", [""])[0])
        )
        models = [
            {**versions[-1], "name": name, "versionId": str(len(versions))}
            for name, versions in self.models.items()
            if name.startswith(parent)
            and all(versions[-1].get("labels", {}).get(k) == v for k, v in wanted.items())
        ]
        return 200, {"models": models}

    def _operation(self, parent: str, kind: str, response: dict[str, Any]) -> Reply:
        name = f"{parent}/operations/{len(self.operations) + 1}"
        operation = {
            "name": name,
            "done": True,
            "metadata": {
                "@type": f"type.googleapis.com/google.cloud.aiplatform.v1.{kind}OperationMetadata",
                "genericMetadata": {"createTime": CREATED, "updateTime": CREATED},
            },
            "response": {
                "@type": f"type.googleapis.com/google.cloud.aiplatform.v1.{kind}Response",
                **response,
            },
        }
        self.operations[name] = operation
        return 200, operation

    def deploy_model(self, endpoint: str, body: dict[str, Any]) -> Reply:
        """``endpoints.deployModel``: the model joins the endpoint with the traffic split given."""
        if endpoint not in self.endpoints:
            return error(404, f"Endpoint {endpoint} not found.", "notFound")
        served = self.endpoints[endpoint]
        deployed = dict(body["deployedModel"])
        if deployed.get("model") not in self.models:
            return error(400, f"Model {deployed.get('model')} does not exist.", "badRequest")
        resources = deployed.get("dedicatedResources", {})
        if not resources.get("machineSpec", {}).get("machineType"):
            return error(
                400,
                "Model does not support automatic resources: dedicated_resources are required.",
            )
        deployed_id = str(1000 + len(self.operations))
        split = {
            (deployed_id if key == "0" else key): int(value)
            for key, value in (body.get("trafficSplit") or {}).items()
        }
        if not split and not served["deployedModels"]:
            split = {deployed_id: 100}
        refusal = self._check_split(served, split, extra=deployed_id)
        if refusal:
            return error(400, refusal)
        deployed = {**deployed, "id": deployed_id, "createTime": CREATED}
        served["deployedModels"].append(deployed)
        served["trafficSplit"] = split
        return self._operation(endpoint, "DeployModel", {"deployedModel": deployed})

    def undeploy_model(self, endpoint: str, body: dict[str, Any]) -> Reply:
        """``endpoints.undeployModel``: the model leaves; the traffic split given takes over."""
        if endpoint not in self.endpoints:
            return error(404, f"Endpoint {endpoint} not found.", "notFound")
        served = self.endpoints[endpoint]
        gone = body.get("deployedModelId")
        if gone not in {m["id"] for m in served["deployedModels"]}:
            return error(404, f"DeployedModel {gone} not found on {endpoint}.", "notFound")
        split = {k: int(v) for k, v in (body.get("trafficSplit") or {}).items()}
        if not split:
            split = {k: v for k, v in served["trafficSplit"].items() if k != gone}
        left = [m for m in served["deployedModels"] if m["id"] != gone]
        if split.get(gone) or (left and sum(split.values()) != 100):
            return error(
                400,
                f"Model {gone} has traffic assigned: undeploying it needs a traffic split that "
                "gives its share to the other models.",
            )
        served["deployedModels"] = left
        served["trafficSplit"] = {k: v for k, v in split.items() if v}
        return self._operation(endpoint, "UndeployModel", {})

    @staticmethod
    def _check_split(served: dict[str, Any], split: dict[str, int], extra: str) -> str | None:
        known = {m["id"] for m in served["deployedModels"]} | {extra}
        if set(split) - known:
            return f"Traffic split names models the endpoint does not serve: {sorted(set(split) - known)}"
        if sum(split.values()) != 100:
            return f"The traffic split must add up to 100, not {sum(split.values())}."
        return None

    def upload_model(self, parent: str, body: dict[str, Any]) -> Reply:
        """``models.upload``: a done operation naming the model and its new version id."""
        model = (
            body.get("parentModel")
            or f"{parent}/models/{body.get('modelId') or len(self.models) + 1}"
        )
        versions = self.models.setdefault(model, [])
        versions.append(body["model"])
        name = f"{parent}/operations/{len(self.operations) + 1}"
        operation = {
            "name": name,
            "done": True,
            "metadata": {
                "@type": "type.googleapis.com/google.cloud.aiplatform.v1.UploadModelOperationMetadata",
                "genericMetadata": {"createTime": CREATED, "updateTime": CREATED},
            },
            "response": {
                "@type": "type.googleapis.com/google.cloud.aiplatform.v1.UploadModelResponse",
                "model": model,
                "modelVersionId": str(len(versions)),
            },
        }
        self.operations[name] = operation
        return 200, operation
