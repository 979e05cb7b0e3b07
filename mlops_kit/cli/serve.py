"""``mlops-kit serve``: the prediction server of a model alias."""

from __future__ import annotations

from typing import Annotated

import typer

from mlops_kit.cli.state import state


def serve(
    ctx: typer.Context,
    ref: Annotated[
        str, typer.Argument(help="NAME@ALIAS to serve and follow (or NAME@VERSION, pinned).")
    ],
    host: Annotated[str | None, typer.Option(help="Interface to bind [127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [$AIP_HTTP_PORT or 8080].")] = None,
    predict_route: Annotated[
        str | None, typer.Option(help="Prediction route [$AIP_PREDICT_ROUTE or /predict].")
    ] = None,
    health_route: Annotated[
        str | None, typer.Option(help="Readiness route [$AIP_HEALTH_ROUTE or /ready].")
    ] = None,
    follow_interval: Annotated[
        float | None,
        typer.Option(
            help="Seconds between looks at the alias [$MLOPS_KIT_SERVE_FOLLOW_INTERVAL or 5]."
        ),
    ] = None,
    max_body_bytes: Annotated[
        int | None, typer.Option(help="Larger request bodies get 413 [1500000].")
    ] = None,
    log_predictions: Annotated[
        bool, typer.Option(help="Log every prediction to the prediction log.")
    ] = True,
) -> None:
    """Serve a model over HTTP (Vertex AI and KServe v1 routes), following its alias."""
    from mlops_kit.serving.server import serve as run_server
    from mlops_kit.serving.settings import ServingSettings

    settings = ServingSettings.resolve(
        {
            "host": host,
            "port": port,
            "predict_route": predict_route,
            "health_route": health_route,
            "follow_interval": follow_interval,
            "max_body_bytes": max_body_bytes,
            "log_predictions": log_predictions,
        }
    )
    run_server(state(ctx).kit(), ref, settings)
