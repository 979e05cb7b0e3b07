"""Pipelines on this machine with ``kfp.local``, offline."""

from __future__ import annotations

import importlib.metadata

from typing_extensions import override

from mlops_kit.errors import MissingDependencyError
from mlops_kit.orchestrators import Orchestrator


class LocalRunner(Orchestrator):
    """Runs each pipeline step in a subprocess of this interpreter (``kfp-local``)."""

    @override
    def check(self) -> str:
        try:
            version = importlib.metadata.version("kfp")
        except importlib.metadata.PackageNotFoundError as exc:
            raise MissingDependencyError.for_module(
                "kfp", "pipelines", "the kfp-local orchestrator"
            ) from exc
        return f"kfp {version}, local subprocess runner"
