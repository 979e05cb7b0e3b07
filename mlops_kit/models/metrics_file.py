"""The metrics recorded with a version, and the JSON file that holds them.

Two shapes are accepted (the README's "Metrics file" describes them)::

    {"accuracy": 0.81, "f1": 0.77}
    {"overall": {"accuracy": 0.81}, "slices": {"country": {"FR": {"accuracy": 0.74}}}}

The first means overall metrics only. Metric names are lower-case words; values are finite numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic_core import ErrorDetails

from mlops_kit.errors import ConfigError
from mlops_kit.files import read_json

MetricName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
MetricValues = Annotated[
    dict[MetricName, Annotated[float, Field(strict=True, allow_inf_nan=False)]],
    Field(min_length=1),
]
_SECTIONS = frozenset({"overall", "slices"})
_FORMAT = 'an object of metric -> number, or one with "overall" and optional "slices"'
_SLICE_SHAPES = ("column -> value -> metrics", "value -> metrics", "metric -> number")


class Metrics(BaseModel):
    """Metrics overall and per slice: column → value → metric → number."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    overall: MetricValues
    slices: dict[str, dict[str, MetricValues]] = Field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``{"overall": ..., "slices": ...}`` as plain data."""
        return self.model_dump()


NO_METRICS: dict[str, Any] = {"overall": {}, "slices": {}}
"""What a version registered without metrics records."""


def parse_metrics(data: Any, source: str = "metrics") -> dict[str, Any]:
    """Validate metrics in either accepted shape and return them as ``{"overall", "slices"}``.

    Args:
        data: the decoded JSON: a flat object of metric → number (overall metrics), or an object
            with ``overall`` and optional ``slices`` (column → value → metric → number).
        source: where the metrics come from, named in errors.

    Raises:
        ConfigError: the structure, a name or a value is wrong; the one-line message names the key
            and the fix.
    """
    if isinstance(data, Mapping) and not _SECTIONS & set(data):
        data = {"overall": data}
    try:
        return Metrics.model_validate(data).to_dict()
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_problem(exc.errors()[0])}") from exc


def _problem(error: ErrorDetails) -> str:
    """One line naming the key of ``error`` and how to fix it."""
    location = [str(part) for part in error["loc"]]
    where = ".".join(location) or "the top level"
    kind = error["type"]
    if location[-1:] == ["[key]"]:  # pydantic places the offending key before this marker
        where = ".".join(location[:-2])
        return (
            f"metric name {location[-2]!r} in {where} must be a lower-case word such as 'accuracy'"
        )
    if kind in {"float_type", "finite_number"}:
        finite = " (Infinity and NaN are refused)" if kind == "finite_number" else ""
        return (
            f"{where} = {error['input']!r} is not a finite number: write one such as 0.81{finite}"
        )
    fixes = {
        "extra_forbidden": f"unknown key {where!r}: a metrics file is {_FORMAT}",
        "missing": f'"overall" is missing: a metrics file is {_FORMAT}',
        "too_short": f"{where} is empty: give at least one metric -> number",
    }
    return fixes.get(kind) or _wrong_shape(location)


def _wrong_shape(location: list[str]) -> str:
    if not location:
        return f"the top level must be {_FORMAT}"
    shape = _SLICE_SHAPES[len(location) - 1] if location[0] == "slices" else _SLICE_SHAPES[-1]
    return f"{'.'.join(location)} must be an object of {shape}"


def read_metrics_file(path: Path) -> dict[str, Any]:
    """Read and validate a metrics JSON file.

    Raises:
        NotFoundError: the file does not exist.
        ConfigError: it is not JSON or not in the metrics format.
    """
    return parse_metrics(read_json(path, "metrics file"), f"metrics file {path}")
