"""Scheduled monitoring: the check as a recurring job of the environment's orchestrator.

On Kubeflow Pipelines and Vertex AI the schedule runs a pipeline of one step,
:func:`~mlops_kit.pipelines.components.check.check_model`, which does what ``mlops-kit monitor
check`` does and stores each run the same way. The local twin has no scheduler: the kit gives the
one line to put in cron or a CI schedule instead.
"""

# No postponed annotations: KFP reads the signature of the pipeline function defined here.

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_kit.errors import ConfigError
from mlops_kit.orchestrators import PipelineSubmission, check_cron
from mlops_kit.pipelines.build import BuildTarget, compile_pipeline

if TYPE_CHECKING:
    from mlops_kit.kit import Kit
    from mlops_kit.monitoring.spec import MonitoringSpec
    from mlops_kit.orchestrators import RecurringRun
    from mlops_kit.pipelines.project import PipelineProject


def monitoring_pipeline(target: BuildTarget, name: str) -> Any:
    """The monitoring pipeline function, its one component built for ``target``."""
    from mlops_kit.pipelines.components.check import check_model

    check = target.component(check_model)  # names the extra when kfp is missing
    from kfp import dsl

    @dsl.pipeline(  # type: ignore[untyped-decorator]
        name=name, description="Scheduled monitoring check (mlops-kit monitor check)"
    )
    def monitoring(environment: str, spec: str, end: str = "") -> str:
        return check(environment=environment, spec=spec, end=end).output  # type: ignore[no-any-return]

    return monitoring


@dataclass(frozen=True)
class CronLine:
    """What to run from cron or CI where the orchestrator cannot schedule (the local twin)."""

    cron: str
    line: str


def _model_name(spec: "MonitoringSpec") -> str:
    if spec.model is None:
        raise ConfigError(
            "the monitoring spec names no 'model': a scheduled check needs it (model: NAME@ALIAS)"
        )
    return spec.model.partition("@")[0]


def _secret_free(spec: "MonitoringSpec") -> str:
    literal = [c.name for c in spec.notifications if not c.webhook.startswith("${")]
    if literal:
        raise ConfigError(
            f"notification channel {literal[0]!r} has a literal webhook URL, which a schedule "
            "would keep in its run parameters where anyone listing runs reads it: write "
            "webhook: ${VARIABLE} and set the variable in the pipeline step's environment"
        )
    return spec.model_dump_json()


def schedule_monitoring(
    kit: "Kit", project: "PipelineProject", spec: "MonitoringSpec", spec_file: Path, cron: str
) -> "RecurringRun | CronLine":
    """Make the check of ``spec`` a recurring job at ``cron`` (five fields, UTC).

    Args:
        kit: the environment whose orchestrator schedules.
        project: the project (its image, named by digest as for a training run, runs the step on
            a cluster; its directory is where a cron line runs).
        spec: the monitoring spec.
        spec_file: where the spec is, for the cron line.
        cron: when to run.

    Returns:
        The orchestrator's schedule, or the cron line where the orchestrator cannot schedule.

    Raises:
        ConfigError: the cron expression is malformed, the spec names no model, a channel has
            a literal webhook URL (a cluster schedule would store it), or a cluster finds no
            image digest (:meth:`~mlops_kit.pipelines.project.PipelineProject.run_target`).
    """
    cron = check_cron(cron)
    name = f"{_model_name(spec)}-monitoring"
    environment = kit.environment
    if not kit.orchestrator.can_schedule:
        command = shlex.join(
            ["mlops-kit", "--env", environment.name, "monitor", "check", "--spec", str(spec_file)]
        )
        return CronLine(cron, f"{cron} cd {shlex.quote(str(project.root))} && {command}")
    # The spec is checked before the image is looked up: its mistakes are the user's to fix first.
    arguments = {"environment": environment.run_parameter(), "spec": _secret_free(spec)}
    config = project.config(environment.name)
    package = compile_pipeline(
        monitoring_pipeline(project.run_target(kit, config), name),
        project.root / "build" / f"monitoring-{environment.name}.yaml",
    )
    submission = PipelineSubmission(
        package=package,
        arguments=arguments,
        run_name=name,
        pipeline_root=project.pipeline_root(environment),
        service_account=environment.service_accounts.get("pipeline_runner"),
        labels={**environment.labels, "model": _model_name(spec), "job": "monitoring"},
        experiment=config.experiment,
    )
    return kit.orchestrator.schedule(submission, cron)
