"""Fault injection for crash tests: a process killed at a named call, as ``kill -9`` would.

A worker process calls :func:`crash_at` before the work under test; the parent then checks what
the crash left behind. Killing at a named call (not after a delay) makes each crash land exactly
at the step it names.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]


def crash_at(target: str) -> None:
    """Kill this process (SIGKILL) when ``module:attribute[.attribute]`` is called.

    With a trailing ``+`` the call runs first, and the process dies as it returns: the step is done,
    nothing after it is.
    """
    after = target.endswith("+")
    module, _, path = target.removesuffix("+").partition(":")
    owner: Any = importlib.import_module(module)
    *parents, name = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    original = getattr(owner, name)

    def killed(*args: Any, **kwargs: Any) -> Any:
        if after:
            original(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)

    setattr(owner, name, killed)


def run_killed(worker: str, *args: str, cwd: Path) -> None:
    """Run the Python source ``worker`` with ``args`` in a fresh process in ``cwd``; the process
    must die by SIGKILL, at the :func:`crash_at` step it names."""
    ran = subprocess.run(
        [sys.executable, "-c", worker, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(cwd)},
        timeout=120,
    )
    assert ran.returncode == -signal.SIGKILL, ran.stderr[-3000:]
