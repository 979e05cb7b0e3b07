"""Building pipelines: the same pipeline function, built for the local twin or for a cluster.

A component is a typed Python function. Built for ``kfp-local`` it runs in a subprocess of this
interpreter and installs nothing; built for a cluster it runs in the project's image, which carries
the kit and the project's dependencies. Either way nothing is pip-installed at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from mlops_kit.errors import MissingDependencyError

LOCAL_IMAGE: Final = "python:3.11"
"""Recorded in specs built for ``kfp-local``, which runs tasks with this interpreter instead."""


@dataclass(frozen=True)
class BuildTarget:
    """Where the built components will run.

    Attributes:
        local: built for ``kfp-local`` (this interpreter, offline).
        image: the container image of every task on a cluster.
    """

    local: bool = True
    image: str = LOCAL_IMAGE

    def component(self, function: Callable[..., Any]) -> Any:
        """The KFP component of ``function`` for this target."""
        dsl = _kfp_dsl()
        return dsl.component(function, base_image=self.image, install_kfp_package=False)


def compile_pipeline(pipeline: Any, path: Path) -> Path:
    """Compile a ``@dsl.pipeline`` function to KFP v2 YAML at ``path``."""
    try:
        from kfp import compiler
    except ImportError as exc:
        raise MissingDependencyError.for_module("kfp", "pipelines", "compiling pipelines") from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(pipeline, str(path))
    return path


def _kfp_dsl() -> Any:
    try:
        from kfp import dsl
    except ImportError as exc:
        raise MissingDependencyError.for_module("kfp", "pipelines", "building pipelines") from exc
    return dsl
