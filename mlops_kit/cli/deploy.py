"""``mlops-kit deploy`` and ``mlops-kit canary``: put a version in front of traffic, all or a share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mlops_kit.cli.options import ModelName, Reason
from mlops_kit.cli.output import FormatOption, OutputFormat, console, print_result
from mlops_kit.cli.state import state

canary_app = typer.Typer(
    help="Judge or withdraw the canary of an alias.",
    no_args_is_help=True,
)

Image = Annotated[
    str | None,
    typer.Option(
        "--image",
        help="The serving image by digest (REPOSITORY@sha256:...) on GKE and Vertex AI "
        "[the image recorded with the version].",
    ),
]
"""The serving image to deploy; ``None``: the one recorded with the version."""

CanaryAlias = Annotated[str, typer.Option("--alias", help="The alias the canary runs on.")]
"""The alias whose canary a command acts on."""


def deploy(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME@VERSION to deploy.")],
    alias: Annotated[str, typer.Option("--alias", help="The alias it serves, e.g. production.")],
    reason: Reason,
    canary: Annotated[
        float | None,
        typer.Option(
            "--canary",
            help="Give the version only this share of the traffic (0.1 = 10 %), beside the "
            "alias's version, until `mlops-kit canary judge` promotes or withdraws it.",
        ),
    ] = None,
    image: Image = None,
    output: FormatOption = OutputFormat.table,
) -> None:
    """Deploy REF through the environment's deploy target (local, GKE or Vertex AI)."""
    from mlops_kit.deploy_targets import open_deploy_target

    target = open_deploy_target(state(ctx).kit())
    deployment = target.deploy(
        ref,
        alias=alias,
        reason=reason,
        traffic_share=1.0 if canary is None else canary,
        image=image,
    )
    print_result(
        output, deployment.to_dict(), lambda: console.print(deployment.detail, markup=False)
    )


def predict(
    ctx: typer.Context,
    instances: Annotated[
        Path,
        typer.Argument(help='JSON file of the request body {"instances": [...]} or a list.'),
    ],
    output: FormatOption = OutputFormat.table,
) -> None:
    """Send instances to the model the deploy target serves and print its predictions.

    On Vertex AI the request goes where the endpoint takes predictions: its dedicated DNS name,
    the Private Service Connect forwarding rule (``?predict_host=`` of the deploy URI) or the
    regional API host.
    """
    from mlops_kit.deploy_targets import open_deploy_target, read_instances

    answer = open_deploy_target(state(ctx).kit()).predict(read_instances(instances))

    def one_per_line() -> None:
        for prediction in answer.get("predictions", []):
            console.print(json.dumps(prediction, default=str), markup=False)

    print_result(output, answer, one_per_line)


@canary_app.command()
def judge(
    ctx: typer.Context,
    name: ModelName,
    alias: CanaryAlias,
    spec_file: Annotated[
        Path, typer.Option("--spec", help="The monitoring spec whose thresholds judge it.")
    ] = Path("monitoring.yaml"),
    image: Image = None,
    output: FormatOption = OutputFormat.table,
) -> None:
    """Check the canary's own predictions: promote it to all traffic or withdraw it.

    Exits 1 when the canary is withdrawn.
    """
    from mlops_kit.monitoring import MonitoringSpec
    from mlops_kit.serving.canary import judge_canary

    spec = MonitoringSpec.load(spec_file)
    verdict = judge_canary(state(ctx).kit(), name, alias, spec, image=image)
    print_result(
        output,
        verdict.to_dict(),
        lambda: console.print(f"{verdict.outcome}: {verdict.detail}", markup=False),
    )
    if verdict.outcome == "withdrawn":
        raise typer.Exit(1)


@canary_app.command()
def withdraw(
    ctx: typer.Context,
    name: ModelName,
    alias: CanaryAlias,
    reason: Reason,
) -> None:
    """Take the canary off the traffic now: the alias's version serves all of it."""
    from mlops_kit.deploy_targets import open_deploy_target

    deployment = open_deploy_target(state(ctx).kit()).withdraw_canary(name, alias, reason=reason)
    console.print(deployment.detail, markup=False)
