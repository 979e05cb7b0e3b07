"""The prediction server: one Starlette app with the routes of Vertex AI, KServe v1 and Prometheus.

| route | what |
|---|---|
| ``POST`` predict route (``AIP_PREDICT_ROUTE``, ``/predict``) | ``{"instances": [...]}`` → predictions |
| ``POST /v1/models/NAME:predict`` | the same, KServe's v1 protocol |
| ``GET /v1/models/NAME`` | KServe's model readiness |
| ``GET`` health route (``AIP_HEALTH_ROUTE``, ``/ready``) | 200 once a model is loaded, else 503 |
| ``GET /live`` | 200 while the process runs |
| ``POST /ground-truth`` | outcomes by request id: ``{"labels": {"REQUEST_ID": label}}`` |
| ``GET /metrics`` | Prometheus metrics |

``parameters.logged_at`` (an ISO 8601 time) logs replayed traffic at the time it was first seen.
Every prediction response names the version that made it (``model_version`` and the header
``X-Model-Version: NAME@VERSION``) and a request id per instance, under which the prediction is
logged and its ground truth is posted later. Bad input is a 4xx with ``{"error": "..."}`` naming the
field; a body over the limit is a 413.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mlops_kit.errors import MlopsKitError, first_line
from mlops_kit.serving.follower import AliasFollower
from mlops_kit.serving.holder import ModelHolder, ServedModel
from mlops_kit.serving.metrics import ServingMetrics
from mlops_kit.serving.prediction_log import ServedPredictionLog
from mlops_kit.serving.schema import InvalidInput, shown

if TYPE_CHECKING:
    from mlops_kit.kit import Kit
    from mlops_kit.serving.settings import ServingSettings

log = logging.getLogger("mlops_kit.serving")

VERSION_HEADER: Final = "X-Model-Version"
MAX_REQUEST_ID: Final = 200

Endpoint = Callable[[Request], Awaitable[Response]]


class Refused(Exception):  # noqa: N818 - an HTTP answer, not a failure of the server
    """A request answered with a 4xx/5xx status and ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


async def read_json(request: Request, limit: int) -> Any:
    """The request body parsed as JSON, refused above ``limit`` bytes.

    Raises:
        Refused: 413 for a body over the limit (declared or streamed), 400 for malformed JSON.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refused(413, f"the body has {declared} bytes, more than the limit of {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Refused(413, f"the body is larger than the limit of {limit} bytes")
    try:
        return json.loads(body, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise Refused(400, f"the body is not valid JSON: {first_line(exc)}") from exc


def _logged_at(parameters: Any) -> datetime | None:
    """The ``logged_at`` parameter: when replayed instances were seen (default: now)."""
    if parameters is None:
        return None
    if not isinstance(parameters, dict) or set(parameters) - {"logged_at"}:
        raise Refused(400, 'parameters must be {"logged_at": "ISO 8601 time with a timezone"}')
    try:
        moment = datetime.fromisoformat(str(parameters.get("logged_at")))
    except ValueError as exc:
        raise Refused(400, f"parameters.logged_at: {first_line(exc)}") from exc
    if moment.tzinfo is None:
        raise Refused(400, "parameters.logged_at has no timezone: add one, such as +00:00")
    return moment


def _predict(served: ServedModel, rows: list[dict[str, Any]]) -> tuple[list[Any], Any]:
    import pandas as pd  # type: ignore[import-untyped]

    frame = pd.DataFrame.from_records(rows, columns=list(served.schema.fields))
    return served.model.predict_scored(frame)


class PredictionServer:
    """The state behind the routes: the model held, its follower, the log and the metrics.

    Args:
        kit: the environment.
        name: the model.
        alias: the alias followed.
        settings: the process settings.
    """

    def __init__(self, kit: Kit, name: str, alias: str, settings: ServingSettings) -> None:
        self.kit = kit
        self.name = name
        self.alias = alias
        self.settings = settings
        self.holder = ModelHolder()
        self.metrics = ServingMetrics(name)
        self.follower = AliasFollower(
            kit, name, alias, self.holder, self.metrics, settings.follow_interval
        )
        self.prediction_log = (
            ServedPredictionLog(kit, name, settings, self.metrics)
            if settings.log_predictions
            else None
        )

    def measured(self, route: str, endpoint: Endpoint) -> Endpoint:
        """``endpoint`` answering refusals as JSON, counted and timed under ``route``."""

        async def answer(request: Request) -> Response:
            started = time.perf_counter()
            try:
                response = await endpoint(request)
            except Refused as exc:
                response = JSONResponse({"error": str(exc)}, status_code=exc.status)
            self.metrics.requests.labels(route, str(response.status_code)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
            return response

        return answer

    # -- predictions ------------------------------------------------------------------------------

    async def predict(self, request: Request) -> Response:
        """Vertex AI's custom-container contract."""
        return await self._predict(request)

    async def kserve_predict(self, request: Request) -> Response:
        """KServe v1: ``POST /v1/models/NAME:predict``."""
        self._check_name(request.path_params["name"])
        return await self._predict(request)

    async def _predict(self, request: Request) -> Response:
        body = await read_json(request, self.settings.max_body_bytes)
        served = self.holder.pick()  # this request's model, whatever a swap does meanwhile
        if served is None:
            raise Refused(503, f"no model loaded yet: {self.name}@{self.alias} is loading")
        if not isinstance(body, dict):
            raise Refused(400, 'the body must be a JSON object: {"instances": [...]}')
        unknown = [key for key in body if key not in ("instances", "parameters")]
        if unknown:
            raise Refused(400, f"unknown key {shown(unknown[0])}: send instances (and parameters)")
        logged_at = _logged_at(body.get("parameters"))
        try:
            rows = served.schema.check(body.get("instances"))
        except InvalidInput as exc:
            raise Refused(400, str(exc)) from exc
        try:
            labels, scores = await run_in_threadpool(_predict, served, rows)
        except MlopsKitError as exc:
            raise Refused(400, f"{served.ref} cannot predict these instances: {exc}") from exc
        except Exception as exc:
            log.exception("%s failed on valid instances", served.ref)
            raise Refused(500, f"{served.ref} failed: {first_line(exc)}") from exc
        request_ids = [uuid.uuid4().hex for _ in rows]
        if self.prediction_log is not None:
            self.prediction_log.log(served.version, request_ids, rows, labels, scores, logged_at)
        self.metrics.predictions.labels(str(served.version)).inc(len(rows))
        answer: dict[str, Any] = {
            "predictions": labels,
            "request_ids": request_ids,
            "model": served.name,
            "model_version": served.version,
        }
        if scores is not None:
            answer["scores"] = scores
        return JSONResponse(answer, headers={VERSION_HEADER: served.ref})

    async def ground_truth(self, request: Request) -> Response:
        """``{"labels": {"REQUEST_ID": label, ...}}``: outcomes observed after the predictions."""
        from mlops_kit.monitoring import log_ground_truth

        body = await read_json(request, self.settings.max_body_bytes)
        labels = body.get("labels") if isinstance(body, dict) else None
        if not isinstance(labels, dict) or not labels:
            raise Refused(400, 'the body must be {"labels": {"REQUEST_ID": label, ...}}')
        for request_id, label in labels.items():
            if not request_id or len(request_id) > MAX_REQUEST_ID:
                raise Refused(400, f"request id {shown(request_id)} must be 1-200 characters")
            if label is None or isinstance(label, dict | list):
                raise Refused(400, f"the label of {shown(request_id)} must be a number or text")
        try:
            written = await run_in_threadpool(log_ground_truth, self.kit, labels)
        except MlopsKitError as exc:
            raise Refused(503, f"ground truth not recorded: {exc}") from exc
        return JSONResponse({"recorded": written})

    # -- health -----------------------------------------------------------------------------------

    def _status(self) -> dict[str, Any]:
        served = self.holder.current
        failure = self.holder.failure
        return {
            "ready": served is not None,
            "model": self.name,
            "version": None if served is None else served.version,
            "following": f"{self.name}@{self.alias}",
            "canary": None
            if self.holder.canary is None
            else {"version": self.holder.canary[0].version, "share": self.holder.canary[1]},
            "inputs": None if served is None else served.schema.describe(),
            "failed_version": None if failure is None else failure.to_dict(),
        }

    async def ready(self, request: Request) -> Response:
        """200 once a model is loaded, 503 before; a version that failed to load is named."""
        status = self._status()
        return JSONResponse(status, status_code=200 if status["ready"] else 503)

    async def live(self, request: Request) -> Response:
        """200 while the process answers."""
        return JSONResponse({"alive": True})

    async def kserve_model(self, request: Request) -> Response:
        """KServe v1 model metadata and readiness."""
        self._check_name(request.path_params["name"])
        status = self._status()
        return JSONResponse(
            {"name": self.name, "ready": status["ready"], "version": status["version"]},
            status_code=200 if status["ready"] else 503,
        )

    async def scrape(self, request: Request) -> Response:
        """Prometheus exposition."""
        body, content_type = self.metrics.render()
        return Response(body, media_type=content_type)

    def _check_name(self, name: str) -> None:
        if name != self.name:
            raise Refused(404, f"this server serves model {self.name!r}, not {shown(name)}")

    # -- the app ----------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """Every route, each measured."""
        table: list[tuple[str, Endpoint, str]] = [
            (self.settings.predict_route, self.predict, "POST"),
            ("/v1/models/{name}:predict", self.kserve_predict, "POST"),
            ("/v1/models/{name}", self.kserve_model, "GET"),
            (self.settings.health_route, self.ready, "GET"),
            ("/live", self.live, "GET"),
            ("/ground-truth", self.ground_truth, "POST"),
            ("/metrics", self.scrape, "GET"),
        ]
        return [
            Route(path, self.measured(path, endpoint), methods=[method])
            for path, endpoint, method in table
        ]

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Follow the alias while the app runs; write the rest of the log at shutdown."""
        self.follower.start()
        try:
            yield
        finally:
            await run_in_threadpool(self.follower.stop)
            if self.prediction_log is not None:
                await run_in_threadpool(self.prediction_log.close)

    def app(self) -> Starlette:
        """The ASGI application."""
        return Starlette(
            routes=self.routes(),
            lifespan=self.lifespan,
            exception_handlers={HTTPException: _http_error, Exception: _server_error},
        )


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "error"
    return JSONResponse({"error": f"{request.method} {request.url.path}: {detail}"}, status)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("error answering %s %s", request.method, request.url.path)
    return JSONResponse({"error": f"internal error: {type(exc).__name__}"}, 500)


def create_app(kit: Kit, name: str, alias: str, settings: ServingSettings) -> Starlette:
    """The ASGI app serving ``NAME@ALIAS`` of ``kit``'s registry (see :class:`PredictionServer`)."""
    return PredictionServer(kit, name, alias, settings).app()
