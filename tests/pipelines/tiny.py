"""A one-step pipeline compiled to KFP v2 YAML: what every orchestrator is given to run."""

# No `from __future__ import annotations`: KFP reads the component signatures.

from pathlib import Path


def _double(x: int) -> int:
    return 2 * x


def compile_tiny_pipeline(directory: Path) -> Path:
    """Compile ``tiny(x)``, one step that doubles ``x``, to ``directory/tiny.yaml``."""
    from kfp import compiler, dsl

    double = dsl.component(_double, install_kfp_package=False, base_image="python:3.11")

    @dsl.pipeline(name="tiny")
    def tiny(x: int = 1) -> int:
        return double(x=x).output

    path = directory / "tiny.yaml"
    compiler.Compiler().compile(tiny, str(path))
    return path
