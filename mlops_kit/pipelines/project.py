"""A project's training pipeline: found from ``pyproject.toml``, configured per environment.

A project declares its pipeline factory in ``pyproject.toml``::

    [tool.mlops-kit]
    pipeline = "churn_model.pipeline:build"

The factory takes a :class:`~mlops_kit.pipelines.build.BuildTarget` and returns the
``@dsl.pipeline`` function. ``configs/ENV.yaml`` holds the pipeline's settings in environment
``ENV``; the resources (warehouse, artifacts, metadata, orchestrator) come from the environment the
kit resolves and reach every task as the ``environment`` parameter.
"""

from __future__ import annotations

import importlib
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mlops_kit import provenance
from mlops_kit.environments import Environment, Workspace
from mlops_kit.errors import ConfigError, NotFoundError
from mlops_kit.files import read_text
from mlops_kit.images import check_digest, image_by_digest, is_digest_reference, pinned_image
from mlops_kit.monitoring.metric_table import unknown_metric
from mlops_kit.orchestrators import (
    ORCHESTRATORS,
    PipelineSubmission,
    check_cron,
    follow,
    task_names,
)
from mlops_kit.pipelines.build import BuildTarget, compile_pipeline
from mlops_kit.pipelines.promotion import GATE_TASK
from mlops_kit.progress import NO_PROGRESS, Progress

if TYPE_CHECKING:
    from mlops_kit.kit import Kit
    from mlops_kit.orchestrators import PipelineRun, RecurringRun, TaskEvent


class GateConfig(BaseModel):
    """When a new model version becomes the champion."""

    # A NaN margin or tolerance compares false with everything: the gate would decide nothing.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    metrics: list[str] = Field(min_length=1)
    """Metrics compared with the champion, the deciding one first (the evaluation's names)."""
    slices: list[str] = Field(default_factory=list)
    """Slice columns compared value by value: no value may regress, and a promotion names the
    values that improved."""
    min_improvement: float = 0.0
    """The margin by which the first metric must improve overall."""
    slice_tolerance: float = 0.02
    """How much of any metric one slice value may lose (and gain, to be named)."""
    weak_slice_min_count: int | None = None
    """When set, the gate also searches the candidate's held-out rows for the feature values
    where it does worst (slice values of at least this many rows) and names them in its decision,
    as a reason to look, never to refuse. Unset, there is no search and the pipeline gets no such
    parameter (the pipeline of template ``churn`` 1.0.0 takes none)."""

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: list[str]) -> list[str]:
        # A misspelt metric would only fail at the end of a training run, as "missing".
        unknown = unknown_metric(value, GATE_TASK)
        if unknown:
            raise ValueError(unknown)
        return value

    @field_validator("weak_slice_min_count", mode="before")
    @classmethod
    def _row_count(cls, value: object) -> object:
        # `true`, `false` or `0` would read as a switch: say what the number is instead.
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            # Imported here: the weak-slice search loads ibis, which valid settings never need.
            from mlops_kit.monitoring.weak_slices import DEFAULT_MIN_COUNT

            raise ValueError(
                f"{value!r} is not a number of rows: use a whole number above 0 (the monitoring "
                f"report's is {DEFAULT_MIN_COUNT}), or remove the setting to skip the search"
            )
        return value


class PipelineConfig(BaseModel):
    """The settings of the training pipeline in one environment (``configs/ENV.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    dataset: str
    source: str
    """A file (relative to the project), ``table:NAME`` or ``query:SELECT ...``."""
    model_name: str
    target: str
    slices: list[str] = Field(default_factory=list)
    gate: GateConfig
    params: dict[str, Any] = Field(default_factory=dict)
    deploy: bool = False
    deploy_alias: str = "production"
    """The alias the deploy step moves through the environment's deploy target."""
    image: str | None = None
    """The container image of every task on a cluster (ignored by ``kfp-local``): its repository
    path (``REGION-docker.pkg.dev/PROJECT/REPO/NAME``), or that path pinned to one build
    (``…/NAME@sha256:…``), which every cluster run of this environment then uses."""
    schedule: str | None = None
    """Cron expression of ``mlops-kit pipeline schedule``."""
    experiment: str | None = None


@dataclass(frozen=True)
class PipelineProject:
    """A project directory with a training pipeline."""

    workspace: Workspace
    factory: str

    @property
    def root(self) -> Path:
        """The project directory."""
        return self.workspace.root

    @classmethod
    def discover(
        cls, start: Path | None = None, workspace: Workspace | None = None
    ) -> PipelineProject:
        """The project around ``start`` (default: the current directory).

        Raises:
            NotFoundError: no ``pyproject.toml`` declares ``[tool.mlops-kit] pipeline``.
        """
        workspace = workspace or Workspace.discover(start)
        path = workspace.root / "pyproject.toml"
        try:
            settings = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise NotFoundError(
                f"no readable pyproject.toml in {workspace.root}: run pipeline commands in a "
                "project made by `mlops-kit new`"
            ) from exc
        factory = settings.get("tool", {}).get("mlops-kit", {}).get("pipeline")
        if not isinstance(factory, str) or ":" not in factory:
            raise NotFoundError(
                f'{path} declares no pipeline: add [tool.mlops-kit] pipeline = "package.module:build"'
            )
        return cls(workspace, factory)

    def config(self, env: str) -> PipelineConfig:
        """The pipeline settings of environment ``env``.

        Raises:
            NotFoundError: there is no ``configs/ENV.yaml``.
            ConfigError: it is invalid.
        """
        path = self.root / "configs" / f"{env}.yaml"
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in (self.root / "configs").glob("*.yaml")))
            raise NotFoundError(
                f"no pipeline settings for environment {env!r} ({path} is missing; have: "
                f"{known or 'none'}): copy configs/local.yaml and adapt it"
            )
        text = read_text(path, "pipeline settings")
        try:
            data = yaml.safe_load(text) or {}
            return PipelineConfig.model_validate(data)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            raise ConfigError(f"{path}: {where}: {error['msg']}") from exc

    def target(
        self, environment: Environment, config: PipelineConfig, image_digest: str | None = None
    ) -> BuildTarget:
        """How to build the components for ``environment``.

        Args:
            environment: where the pipeline runs.
            config: its settings there.
            image_digest: the digest of the image to run (``sha256:...``), which then names the
                image instead of the configured tag.

        Raises:
            ConfigError: a cluster environment has no ``image`` in its settings, or the digest is
                malformed.
        """
        if image_digest:
            check_digest(image_digest)
        if ORCHESTRATORS.resolve(environment.orchestrator).runs_here:
            return BuildTarget()
        if not config.image:
            raise ConfigError(
                f"configs/{environment.name}.yaml sets no 'image': tasks on a cluster run in the "
                "project's image, which carries the kit and the project's dependencies"
            )
        image = image_by_digest(config.image, image_digest) if image_digest else config.image
        return BuildTarget(local=False, image=image)

    def run_target(
        self, kit: Kit, config: PipelineConfig, image_digest: str | None = None
    ) -> BuildTarget:
        """How to build the components for a run (or schedule) on ``kit``'s orchestrator.

        On a cluster every task runs in the project's image named by digest, taken from the first
        of: ``image_digest``; ``image`` of ``configs/ENV.yaml`` when it is pinned
        (``…@sha256:…``); the image recorded with the champion (``components.image``), which the
        pipeline's register step records from the image the run's tasks ran in. The champion's
        image is the build CI attested and whose code produced the model in service, so a
        retraining or scheduled run changes the data only, and the gate compares like with like;
        new code reaches the cluster through CI's own run with ``--image-digest``.

        Raises:
            ConfigError: a cluster run finds no digest in any of them, or a malformed one.
        """
        target = self.target(kit.environment, config, image_digest)
        if target.local or ("@" in target.image and is_digest_reference(target.image)):
            return target
        return BuildTarget(local=False, image=pinned_image(self.champion_image(kit, config)))

    def champion_image(self, kit: Kit, config: PipelineConfig) -> str:
        """The image recorded with ``config.model_name``'s champion (``REPOSITORY/NAME@sha256:…``).

        Raises:
            ConfigError: there is no champion, or it records no image.
        """
        from mlops_kit import models
        from mlops_kit.pipelines.promotion import CHAMPION

        fix = (
            f"pass --image-digest sha256:<digest> (the build the project's CI attested), or pin "
            f"'image: REPOSITORY/NAME@sha256:<digest>' in configs/{kit.environment.name}.yaml"
        )
        ref = f"{config.model_name}@{CHAMPION}"
        try:
            recorded = models.get_version(kit, ref).components.get("image", {}).get("image")
        except NotFoundError:
            raise ConfigError(
                f"a cluster run names its image by digest, and {ref} does not exist yet: {fix}"
            ) from None
        if not recorded:
            raise ConfigError(
                f"a cluster run names its image by digest, and {ref} records no image: {fix}"
            )
        # `models register --image-digest` also takes a bare digest: it names the configured image.
        return recorded if "@" in recorded else image_by_digest(str(config.image), recorded)

    def pipeline(self, target: BuildTarget) -> Any:
        """The project's pipeline function built for ``target``.

        Raises:
            ConfigError: the factory cannot be imported.
        """
        module_name, _, attribute = self.factory.partition(":")
        source_dir = str(self.root / "src")
        if (self.root / "src").is_dir() and source_dir not in sys.path:
            # An uninstalled project still runs: its code is under src/.
            sys.path.insert(0, source_dir)
        try:
            factory: Callable[[BuildTarget], Any] = getattr(
                importlib.import_module(module_name), attribute
            )
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"cannot load the pipeline factory {self.factory!r}: {exc} "
                "(fix [tool.mlops-kit] pipeline in pyproject.toml, or `pip install -e .`)"
            ) from exc
        return factory(target)

    def compile(
        self, environment: Environment, output: Path | None = None, image_digest: str | None = None
    ) -> Path:
        """Compile the pipeline for ``environment`` to YAML (default: ``build/pipeline-ENV.yaml``).

        On a cluster the tasks run in the configured image, named by ``image_digest`` if given
        (a compiled file to inspect may name it by repository; a run never does).
        """
        config = self.config(environment.name)
        return self._compile(environment, self.target(environment, config, image_digest), output)

    def _compile(self, environment: Environment, target: BuildTarget, output: Path | None) -> Path:
        return compile_pipeline(self.pipeline(target), output or self._package(environment))

    def _package(self, environment: Environment) -> Path:
        """Where the pipeline compiled for ``environment`` goes by default (and runs from)."""
        return self.root / "build" / f"pipeline-{environment.name}.yaml"

    def arguments(self, environment: Environment, config: PipelineConfig) -> dict[str, Any]:
        """The pipeline parameters for one run in ``environment``.

        ``weak_slice_min_count`` is passed only when ``gate.weak_slice_min_count`` is set.
        """
        import json

        source = config.source
        if source.partition(":")[0] not in ("table", "query") and not Path(source).is_absolute():
            source = str(self.root / source)
        arguments: dict[str, Any] = {
            "environment": environment.run_parameter(),
            "dataset": config.dataset,
            "source": source,
            "model_name": config.model_name,
            "target": config.target,
            "slices": ",".join(config.slices),
            "gate_metrics": ",".join(config.gate.metrics),
            "gate_slices": ",".join(config.gate.slices),
            "params": json.dumps(config.params, sort_keys=True),
            "min_improvement": config.gate.min_improvement,
            "slice_tolerance": config.gate.slice_tolerance,
            "deploy_champion": config.deploy,
            "deploy_alias": config.deploy_alias,
            "git_commit": provenance.git_commit(self.root) or "",
        }
        if config.gate.weak_slice_min_count is not None:
            arguments["weak_slice_min_count"] = config.gate.weak_slice_min_count
        return arguments

    def pipeline_root(self, environment: Environment) -> str:
        """Where runs keep their artifacts: the environment's, or ``.mlops/pipelines`` locally."""
        if environment.pipeline_root:
            return environment.pipeline_root
        if ORCHESTRATORS.resolve(environment.orchestrator).runs_here:
            return str(self.workspace.local_root / "pipelines")
        raise ConfigError(
            f"environment {environment.name!r} has no pipeline_root: re-import it with "
            "`mlops-kit env import`"
        )

    def run_name(self, config: PipelineConfig) -> str:
        """The display name of this pipeline's runs (and of its schedule)."""
        return f"{config.model_name}-training"

    def submission(
        self,
        kit: Kit,
        run_name: str | None = None,
        image_digest: str | None = None,
        reason: str | None = None,
    ) -> PipelineSubmission:
        """Compile the pipeline for ``kit``'s environment and describe one run of it.

        Args:
            kit: the environment.
            run_name: the run's display name (default: :meth:`run_name`).
            image_digest: the digest of the image the tasks run in on a cluster (``sha256:...``).
            reason: why it runs (a retraining request); the run is labelled as a retraining.

        Raises:
            ConfigError: on a cluster, no image digest is found (:meth:`run_target`).
        """
        environment = kit.environment
        config = self.config(environment.name)
        package = self._compile(environment, self.run_target(kit, config, image_digest), None)
        labels = {**environment.labels, "model": config.model_name}
        if reason:
            labels["trigger"] = f"retraining-{datetime.now(UTC):%Y%m%d%H%M}"
        return PipelineSubmission(
            package=package,
            arguments=self.arguments(environment, config),
            run_name=run_name or self.run_name(config),
            pipeline_root=self.pipeline_root(environment),
            service_account=environment.service_accounts.get("pipeline_runner"),
            labels=labels,
            experiment=config.experiment,
        )

    def submit(
        self,
        kit: Kit,
        on_task: TaskEvent | None = None,
        reason: str | None = None,
        image_digest: str | None = None,
    ) -> PipelineRun:
        """Run the pipeline on ``kit``'s orchestrator (synchronously on ``kfp-local``).

        Args:
            kit: the environment.
            on_task: progress callback of synchronous runs.
            reason: why it runs (a retraining request); the run is labelled as a retraining.
            image_digest: the digest of the image the tasks run in on a cluster (``sha256:...``).
        """
        submission = self.submission(kit, image_digest=image_digest, reason=reason)
        return kit.orchestrator.submit(submission, on_task)

    def follow(
        self,
        kit: Kit,
        run: PipelineRun,
        *,
        timeout: float,
        interval: float = 5.0,
        progress: Progress = NO_PROGRESS,
    ) -> PipelineRun:
        """Wait until ``run`` of this pipeline, submitted by :meth:`submit`, is over.

        ``progress`` is told how many of the pipeline's tasks are done and which run or failed
        (see :func:`mlops_kit.orchestrators.follow`, whose errors it raises).
        """
        return follow(
            kit.orchestrator,
            run,
            timeout=timeout,
            interval=interval,
            tasks=task_names(self._package(kit.environment)),
            pipeline_root=self.pipeline_root(kit.environment),
            progress=progress,
        )

    def schedule(
        self, kit: Kit, cron: str | None = None, image_digest: str | None = None
    ) -> RecurringRun:
        """Create the recurring run of the pipeline (``cron`` or the config's ``schedule``).

        Every run of the schedule uses the image named by digest when it is created
        (``image_digest``, else as :meth:`run_target` finds it).

        Raises:
            ConfigError: no cron expression is given or configured, or no image digest is found.
        """
        config = self.config(kit.environment.name)
        cron = cron or config.schedule
        if not cron:
            raise ConfigError(
                f"no schedule: pass --cron or set 'schedule' in configs/{kit.environment.name}.yaml"
            )
        # A malformed expression is refused before the image is looked up and the pipeline built.
        cron = check_cron(cron)
        return kit.orchestrator.schedule(self.submission(kit, image_digest=image_digest), cron)

    def runs(self, kit: Kit, limit: int = 20) -> list[PipelineRun]:
        """The most recent runs of this pipeline on ``kit``'s orchestrator, newest first."""
        config = self.config(kit.environment.name)
        root = self.pipeline_root(kit.environment)
        return kit.orchestrator.list_runs(limit, root, name=self.run_name(config))
