"""The monitoring spec: a project's YAML file of thresholds, slices and the retraining hook.

Example (``monitoring.yaml``)::

    model: purchase@production
    task: classification          # or regression
    positive_label: "1"          # default: the greater of two labels (True, 1)
    window: 7d
    slices: [hour_of_day, country]
    min_samples: 50               # smaller slices are reported, never judged
    min_label_share: 0.8          # judge a slice's metrics once 80 % of its predictions have labels
    max_calibration_error: 0.05   # estimates are trusted while the scores are this well calibrated
    time_column: event_time       # training data's timestamp, for coverage by hour
    thresholds:                   # on the whole window
      accuracy: {min: 0.85}
      roc_auc: {max_drop: 0.05}   # at most 0.05 below the registry's evaluation baseline
      estimated_accuracy: {min: 0.8}  # from the scores, before the labels arrive
    slice_thresholds:             # on every value of a slice column
      hour_of_day:
        accuracy: {min: 0.75}
    drift:                        # per feature, live traffic against the training data
      psi: {max: 0.25}
    health:
      null_rate: {max: 0.05}
    retraining:
      handler: pipeline           # an entry point of group mlops_kit.retraining; null = none
      on_new_data: true           # a new version of the training dataset starts training too
      check_after_promotion: 500  # predictions of a promoted version before its follow-up check
      guards:
        cooldown: 3d              # between two retraining runs of the model
        max_runs_per_day: 1
        max_runs_per_week: 3
        max_consecutive_not_promoted: 3   # then only notify
    notifications:
      - name: ml-team
        webhook: ${SLACK_WEBHOOK_URL}     # ${VAR} is read from the environment when sending
        events: [violations, retraining, refused, promotion]

    weak_slices: {min_count: 50}  # also list the feature values where the model does worst
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlops_kit.errors import ConfigError, NotFoundError, shorten
from mlops_kit.files import read_text
from mlops_kit.monitoring.estimation import estimated_names
from mlops_kit.monitoring.metric_table import Task, unknown_metric
from mlops_kit.monitoring.retraining import check_handler
from mlops_kit.monitoring.window import window_hours

DRIFT_MEASURES: Final = ("psi", "ks", "js")
HEALTH_MEASURES: Final = ("null_rate", "nonconforming_rate", "out_of_range_rate")

ViolationKind = Literal["metrics", "drift", "health"]
RETRAIN_ON_DEFAULT: Final[tuple[ViolationKind, ...]] = ("metrics", "drift")
DEFAULT_MIN_LABEL_SHARE: Final = 0.5
"""Judging on fewer than half the predictions risks the bias of the labels that arrive first."""
DEFAULT_MAX_CALIBRATION_ERROR: Final = 0.05


@dataclass(frozen=True)
class Labels:
    """How a report reads the ground truth, and when the scores may stand in for it."""

    positive: str | None = None
    """The positive class (default: the greater of two labels, as the evaluation orders them)."""
    min_share: float = DEFAULT_MIN_LABEL_SHARE
    """A slice with a smaller share of labelled predictions has its metrics pending."""
    max_calibration_error: float = DEFAULT_MAX_CALIBRATION_ERROR
    """The expected calibration error of the scores on the labelled history above which the
    estimated metrics are not trusted (a warning)."""

    def __post_init__(self) -> None:
        if not 0 <= self.min_share <= 1 or not 0 < self.max_calibration_error <= 1:
            raise ConfigError(
                f"invalid label settings (min_share={self.min_share}, max_calibration_error="
                f"{self.max_calibration_error}): use a share from 0 to 1 and an error above 0 "
                "up to 1"
            )


DEFAULT_LABELS: Final = Labels()


class Threshold(BaseModel):
    """Bounds on one number; ``max_drop`` is relative to the registry's evaluation baseline.

    A drop is a fall for a metric where higher is better and a rise where lower is better (see
    :data:`~mlops_kit.monitoring.metric_table.METRICS`).
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


class RetrainingGuards(BaseModel):
    """Limits on retraining runs of one model, so that a flapping check cannot burn the budget.

    A trigger a guard refuses starts nothing; the refusal, naming the guard, is recorded on the
    check run and notified.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    cooldown: str | None = None
    """Least time between two retraining runs (``12h``, ``3d``); none by default."""
    max_runs_per_day: int | None = Field(default=None, ge=1)
    """Most retraining runs started in any 24 hours."""
    max_runs_per_week: int | None = Field(default=None, ge=1)
    """Most retraining runs started in any 7 days."""
    one_in_flight: bool = True
    """No new run while one is still running (a run submitted to a cluster, or one running here)."""
    max_consecutive_not_promoted: int | None = Field(default=None, ge=1)
    """After this many runs in a row whose candidate was not promoted, start no more: only
    notify (the data or the model needs people, not another run)."""

    @field_validator("cooldown")
    @classmethod
    def _valid_cooldown(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                window_hours(value, "cooldown")
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value

    @property
    def cooldown_hours(self) -> int | None:
        """The cooldown in hours (``None``: no cooldown)."""
        return None if self.cooldown is None else window_hours(self.cooldown, "cooldown")


class WeakSliceSearch(BaseModel):
    """The search for the feature values where the model does worst (listed, never judged)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_count: int = Field(default=50, ge=1)
    """The fewest labelled predictions a slice value needs to be listed."""


class RetrainingSpec(BaseModel):
    """What starts a retraining run, where the request goes, and the guards that limit it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    handler: str | None = "pipeline"
    """Entry point name in group ``mlops_kit.retraining``; ``null`` disables requests."""
    on: list[ViolationKind] = Field(default_factory=lambda: list(RETRAIN_ON_DEFAULT))
    """Which kinds of violation ask for retraining (data health problems usually need a fix
    upstream, not a new model)."""
    on_new_data: bool = False
    """A version of the training dataset newer than every version the model was trained on
    starts a retraining run."""
    check_after_promotion: int | None = Field(default=None, ge=1)
    """The first check of a promoted version with at least this many logged predictions is its
    follow-up check (recorded and notified once per promotion)."""
    guards: RetrainingGuards = Field(default_factory=RetrainingGuards)


NotificationEvent = Literal["violations", "retraining", "refused", "promotion"]
NOTIFICATION_EVENTS: Final[tuple[NotificationEvent, ...]] = (
    "violations",
    "retraining",
    "refused",
    "promotion",
)
_CHANNEL_NAME: Final = r"^[a-z][a-z0-9_-]{0,39}$"
_VARIABLE: Final = re.compile(r"^\$\{([A-Z_][A-Z0-9_]*)\}$")


class NotificationChannel(BaseModel):
    """A webhook that receives the loop's events as JSON (README, *Continuous training*).

    ``body: generic`` posts a top-level ``text`` (what Slack shows) with structured fields;
    ``body: text`` posts ``{"text": ...}`` only, which Google Chat needs (its API refuses fields it
    does not know).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_CHANNEL_NAME)
    webhook: str
    """``https://...``, or ``${VARIABLE}`` to read the URL (a secret) from the environment when
    sending."""
    body: Literal["generic", "text"] = "generic"
    events: list[NotificationEvent] = Field(default_factory=lambda: list(NOTIFICATION_EVENTS))
    timeout: float = Field(default=5.0, gt=0, le=60)
    """Seconds to wait for the receiver; a slow receiver never holds the check up longer."""

    @field_validator("webhook")
    @classmethod
    def _valid_webhook(cls, value: str) -> str:
        if not (_VARIABLE.match(value) or value.startswith(("https://", "http://"))):
            raise ValueError(
                f"invalid webhook {shorten(value)!r}: use an http(s):// URL or ${{VARIABLE}} "
                "naming an environment variable that holds it"
            )
        return value

    def stored(self) -> dict[str, Any]:
        """The channel as run records keep it: a literal URL, which is a secret, cut to its host."""
        data = self.model_dump(mode="json")
        if not _VARIABLE.match(self.webhook):
            scheme, _, rest = self.webhook.partition("://")
            data["webhook"] = f"{scheme}://{rest.split('/', 1)[0].rpartition('@')[2]}/***"
        return data

    def url(self, environ: Mapping[str, str]) -> str:
        """The webhook URL, ``${VARIABLE}`` read from ``environ``.

        Raises:
            ConfigError: the variable is not set.
        """
        variable = _VARIABLE.match(self.webhook)
        if variable is None:
            return self.webhook
        value = environ.get(variable.group(1))
        if not value:
            raise ConfigError(
                f"notification channel {self.name!r}: environment variable {variable.group(1)} "
                "is not set: set it to the webhook URL where checks run"
            )
        return value


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
    min_label_share: float = Field(default=DEFAULT_MIN_LABEL_SHARE, ge=0, le=1)
    """A metric is judged once this share of a slice's predictions has ground truth; until then
    it is pending (not a pass). Estimated metrics need no labels."""
    max_calibration_error: float = Field(default=DEFAULT_MAX_CALIBRATION_ERROR, gt=0, le=1)
    """The expected calibration error of the scores on the labelled history above which the
    check warns that the estimated metrics cannot be trusted."""
    time_column: str | None = None
    """Timestamp column of the training data for time-slice coverage (default: its first)."""
    thresholds: dict[str, Threshold] = Field(default_factory=dict)
    slice_thresholds: dict[str, dict[str, Threshold]] = Field(default_factory=dict)
    drift: dict[str, Threshold] = Field(default_factory=dict)
    health: dict[str, Threshold] = Field(default_factory=dict)
    retraining: RetrainingSpec = Field(default_factory=RetrainingSpec)
    notifications: list[NotificationChannel] = Field(default_factory=list)

    weak_slices: WeakSliceSearch | None = None
    """Search the logged features for weak slices (``weak_slices: {min_count: 50}``)."""

    @field_validator("window")
    @classmethod
    def _valid_window(cls, value: str) -> str:
        window_hours(value)
        return value

    @field_validator("notifications")
    @classmethod
    def _distinct_channels(cls, value: list[NotificationChannel]) -> list[NotificationChannel]:
        names = [channel.name for channel in value]
        if len(set(names)) != len(names):
            raise ValueError("two notification channels have the same name: name each once")
        return value

    @model_validator(mode="after")
    def _known_names(self) -> MonitoringSpec:
        # A classification is also judged on the metrics estimated before labels arrive.
        estimated = estimated_names() if self.task == "classification" else []
        named = list(self.thresholds) + [m for per in self.slice_thresholds.values() for m in per]
        unknown = unknown_metric(named, self.task, also=estimated)
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

    def stored(self) -> dict[str, Any]:
        """The spec as run records keep it: literal webhook URLs (secrets) hidden."""
        data = self.model_dump(mode="json")
        data["notifications"] = [channel.stored() for channel in self.notifications]
        return data

    @property
    def labels(self) -> Labels:
        """How the spec's report reads the ground truth."""
        return Labels(self.positive_label, self.min_label_share, self.max_calibration_error)

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
            message = first["msg"].removeprefix("Value error, ")
            raise ConfigError(
                f"monitoring spec {path}: {where}: {message} — fix the file and retry"
            ) from None
