"""The monitoring spec: a project's YAML file of thresholds, slices and the retraining hook.

Example (``monitoring.yaml``)::

    model: purchase@production
    task: classification          # or regression
    positive_label: "1"          # default: the greater of two labels (True, 1)
    window: 7d
    slices: [hour_of_day, country]
    min_samples: 50               # smaller slices are reported, never judged
    time_column: event_time       # training data's timestamp, for coverage by hour
    thresholds:                   # on the whole window
      accuracy: {min: 0.85}
      roc_auc: {max_drop: 0.05}   # at most 0.05 below the registry's evaluation baseline
    slice_thresholds:             # on every value of a slice column
      hour_of_day:
        accuracy: {min: 0.75}
    drift:                        # per feature, live traffic against the training data
      psi: {max: 0.25}
    health:
      null_rate: {max: 0.05}
    retraining:
      handler: pipeline           # an entry point of group mlops_kit.retraining; null = none
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlops_kit.errors import ConfigError, NotFoundError, shorten
from mlops_kit.files import read_text
from mlops_kit.limits import MAX_HOURS
from mlops_kit.monitoring.metrics import Task, unknown_metric
from mlops_kit.monitoring.retraining import check_handler

DEFAULT_SPEC_FILE: Final = "monitoring.yaml"

DRIFT_MEASURES: Final = ("psi", "ks", "js")
HEALTH_MEASURES: Final = ("null_rate", "nonconforming_rate", "out_of_range_rate")

ViolationKind = Literal["metrics", "drift", "health"]
RETRAIN_ON_DEFAULT: Final[tuple[ViolationKind, ...]] = ("metrics", "drift")

_WINDOW: Final = re.compile(r"^([0-9]{1,12})([hdw])$")
_WINDOW_HOURS: Final = {"h": 1, "d": 24, "w": 24 * 7}


def window_hours(text: str) -> int:
    """Hours in a window such as ``12h``, ``7d`` or ``2w``.

    Raises:
        ConfigError: the text is not a positive number followed by h, d or w.
    """
    match = _WINDOW.match(text.strip())
    hours = int(match.group(1)) * _WINDOW_HOURS[match.group(2)] if match else 0
    if not 0 < hours <= MAX_HOURS:
        raise ConfigError(
            f"invalid window {shorten(text)!r}: use a positive number and h, d or w (7d), "
            f"at most {MAX_HOURS} hours"
        )
    return hours


class Threshold(BaseModel):
    """Bounds on one number; ``max_drop`` is relative to the registry's evaluation baseline.

    A drop is a fall for a metric where higher is better and a rise where lower is better (see
    :data:`~mlops_kit.monitoring.metrics.METRICS`).
    """

    # A NaN bound compares false with everything, so it would never be broken.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    min: float | None = None
    max: float | None = None
    max_drop: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _some_bound(self) -> Threshold:
        if self.min is None and self.max is None and self.max_drop is None:
            raise ValueError("give at least one of min, max, max_drop")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(
                f"min {self.min} is above max {self.max}: every value would break it; swap them"
            )
        return self


class RetrainingSpec(BaseModel):
    """Where a failed check sends its retraining request."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    handler: str | None = "pipeline"
    """Entry point name in group ``mlops_kit.retraining``; ``null`` disables requests."""
    on: list[ViolationKind] = Field(default_factory=lambda: list(RETRAIN_ON_DEFAULT))
    """Which kinds of violation ask for retraining (data health problems usually need a fix
    upstream, not a new model)."""


class MonitoringSpec(BaseModel):
    """A project's monitoring spec (see the module docstring for the YAML form)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = None
    task: Task = "classification"
    """Classification metrics are binary: ``positive_label`` against every other label."""
    positive_label: str | None = None
    """The positive class; by default the greater of two labels, as the evaluation orders them."""
    window: str = "7d"
    slices: list[str] = Field(default_factory=lambda: ["hour_of_day"])
    min_samples: int = Field(default=30, ge=1)
    time_column: str | None = None
    """Timestamp column of the training data for time-slice coverage (default: its first)."""
    thresholds: dict[str, Threshold] = Field(default_factory=dict)
    slice_thresholds: dict[str, dict[str, Threshold]] = Field(default_factory=dict)
    drift: dict[str, Threshold] = Field(default_factory=dict)
    health: dict[str, Threshold] = Field(default_factory=dict)
    retraining: RetrainingSpec = Field(default_factory=RetrainingSpec)

    @field_validator("window")
    @classmethod
    def _valid_window(cls, value: str) -> str:
        window_hours(value)
        return value

    @model_validator(mode="after")
    def _known_names(self) -> MonitoringSpec:
        named = list(self.thresholds) + [m for per in self.slice_thresholds.values() for m in per]
        unknown = unknown_metric(named, self.task)
        if unknown:
            raise ValueError(unknown)
        for name in self.drift:
            if name not in DRIFT_MEASURES:
                raise ValueError(
                    f"unknown drift measure {name!r} (known: {', '.join(DRIFT_MEASURES)})"
                )
        for name in self.health:
            if name not in HEALTH_MEASURES:
                raise ValueError(
                    f"unknown health measure {name!r} (known: {', '.join(HEALTH_MEASURES)})"
                )
        for column in self.slice_thresholds:
            if column not in self.slices:
                raise ValueError(f"slice_thresholds names {column!r}, which is not in 'slices'")
        return self

    @classmethod
    def load(cls, path: Path) -> MonitoringSpec:
        """Read and validate a spec file.

        Raises:
            NotFoundError: the file does not exist.
            ConfigError: the file is not valid YAML or not a valid spec, or its retraining handler
                is not installed (a check would only find out once it failed).
        """
        if not path.is_file():
            raise NotFoundError(
                f"monitoring spec {path} not found: create it (see `mlops-kit monitor check --help`)"
            )
        text = read_text(path, "monitoring spec")
        try:
            data = yaml.safe_load(text) or {}
            spec = cls.model_validate(data)
            if spec.retraining.handler is not None:
                check_handler(spec.retraining.handler)
            return spec
        except NotFoundError as exc:
            raise ConfigError(f"monitoring spec {path}: {exc}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"monitoring spec {path} is not valid YAML: {exc}".replace("\n", " ")
            ) from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "(top level)"
            raise ConfigError(
                f"monitoring spec {path}: {where}: {first['msg']} — fix the file and retry"
            ) from None
