"""The prediction server's settings, read once at the edge from flags and the process environment.

Vertex AI runs a custom container with ``AIP_HTTP_PORT``, ``AIP_PREDICT_ROUTE`` and
``AIP_HEALTH_ROUTE`` set; the server answers there, so the same image runs on Vertex AI, KServe
and the local twin. Everything below this object receives it and never reads ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from mlops_kit.errors import ConfigError
from mlops_kit.images import HEALTH_ROUTE, PREDICT_ROUTE, SERVER_PORT

DEFAULT_FOLLOW_INTERVAL: Final = 5.0
# Vertex AI refuses online prediction requests above 1.5 MB; the server refuses them too.
DEFAULT_MAX_BODY_BYTES: Final = 1_500_000

_FROM_ENVIRON: Final = {
    "port": "AIP_HTTP_PORT",
    "predict_route": "AIP_PREDICT_ROUTE",
    "health_route": "AIP_HEALTH_ROUTE",
    "follow_interval": "MLOPS_KIT_SERVE_FOLLOW_INTERVAL",
    "max_body_bytes": "MLOPS_KIT_SERVE_MAX_BODY_BYTES",
}


class ServingSettings(BaseModel):
    """How one serving process runs.

    Precedence: a flag > the environment variable (``AIP_*`` of Vertex AI, ``MLOPS_KIT_SERVE_*``) >
    the default.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    """Interface to bind (``0.0.0.0`` in a container)."""
    port: int = Field(SERVER_PORT, ge=1, le=65535)
    """TCP port (``AIP_HTTP_PORT``)."""
    predict_route: str = PREDICT_ROUTE
    """Route of ``{"instances": [...]}`` predictions (``AIP_PREDICT_ROUTE``)."""
    health_route: str = HEALTH_ROUTE
    """Readiness route: 200 once a model is loaded (``AIP_HEALTH_ROUTE``)."""
    follow_interval: float = Field(DEFAULT_FOLLOW_INTERVAL, gt=0, le=3600)
    """Seconds between two looks at the alias: a promotion or rollback is served within it."""
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=1024)
    """Larger request bodies are refused with 413."""
    log_predictions: bool = True
    """Log every prediction to the environment's prediction log (off only to measure its cost)."""
    log_batch_size: int = Field(1000, ge=1)
    """Rows per prediction-log insert."""
    log_max_delay: float = Field(5.0, gt=0)
    """Seconds a logged prediction may wait before its batch is written."""
    log_max_buffered: int = Field(100_000, ge=1)
    """Logged predictions kept in memory while writes are slow or failing; beyond, rows are
    dropped and counted (``mlops_kit_serving_prediction_log_rows_dropped``), never queued
    without bound."""

    @model_validator(mode="after")
    def _buffer_holds_a_batch(self) -> ServingSettings:
        if self.log_max_buffered < self.log_batch_size:
            raise ValueError(
                f"log_max_buffered {self.log_max_buffered} is below log_batch_size "
                f"{self.log_batch_size}: the buffer must hold a batch"
            )
        return self

    @field_validator("predict_route", "health_route")
    @classmethod
    def _route(cls, value: str) -> str:
        if not value.startswith("/") or any(c.isspace() for c in value):
            raise ValueError(f"{value!r} is not a route: start it with '/' and use no spaces")
        return value

    @classmethod
    def resolve(
        cls, flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> ServingSettings:
        """The settings from ``flags`` (``None`` values ignored), then ``environ``, then defaults.

        Raises:
            ConfigError: a value is malformed; the message names the flag or variable.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {
            field: environ[variable]
            for field, variable in _FROM_ENVIRON.items()
            if environ.get(variable)
        }
        values.update({key: value for key, value in (flags or {}).items() if value is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = str(error["loc"][0]) if error["loc"] else "value"
            where = _FROM_ENVIRON.get(field)
            source = f"--{field.replace('_', '-')}" + (f" / ${where}" if where else "")
            message = str(error["msg"]).removeprefix("Value error, ")
            raise ConfigError(f"serving setting {source}: {message}") from exc
