"""Running the prediction server: uvicorn, one process, bound to the settings' host and port."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from mlops_kit.backends import import_sdk
from mlops_kit.errors import DryRunEnded
from mlops_kit.serving.app import create_app

if TYPE_CHECKING:
    from mlops_kit.kit import Kit
    from mlops_kit.serving.settings import ServingSettings


def serve(kit: Kit, ref: str, settings: ServingSettings) -> None:
    """Serve ``NAME@ALIAS`` (or a pinned ``NAME@VERSION``) until interrupted.

    The reference is resolved before the server starts, so a model or alias that does not exist
    is a one-line error, not a server that never becomes ready.

    Raises:
        NotFoundError: the model, alias or version does not exist.
        ConfigError: ``ref`` is malformed.
        MissingDependencyError: the ``serving`` extra is not installed.
        DryRunEnded: the kit is in a dry run and the server would log its predictions; it does
            not start.
    """
    from mlops_kit import models

    uvicorn = import_sdk("uvicorn", package="uvicorn", extra="serving", purpose="mlops-kit serve")
    parsed = models.ModelRef.parse(ref)
    models.get_version(kit, parsed)
    if kit.dry_run_command is not None and settings.log_predictions:
        # The prediction log is the one thing a server changes, and it writes outside the roles
        # that refuse changes themselves (streaming inserts into the warehouse's log tables).
        raise DryRunEnded.before_change(
            kit.dry_run_command, f"log the predictions of {ref} to the prediction log"
        )
    selector = str(parsed.version if parsed.version is not None else parsed.alias)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_app(kit, parsed.name, selector, settings)
    # One process per server: scale out with more processes (each follows the alias itself).
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        access_log=False,  # every request is counted in /metrics and logged in the prediction log
        log_level="info",
        lifespan="on",
    )
