"""The quality gates run with the tests: ruff, mypy --strict and the import-linter contracts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(found).exists():
        pytest.fail(f"{name} is not installed: run `pip install -e '.[dev]'`")
    return found


def run(*command: str) -> None:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def test_ruff_lint() -> None:
    run(tool("ruff"), "check", ".")


def test_ruff_format() -> None:
    run(tool("ruff"), "format", "--check", ".")


def test_mypy_strict() -> None:
    run(tool("mypy"))


def test_import_contracts() -> None:
    run(tool("lint-imports"))
