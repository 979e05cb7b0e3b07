"""Fault injection for crash tests: a process killed at a named call, as ``kill -9`` would.

A worker process calls :func:`crash_at` before the work under test; the parent then checks what
the crash left behind. Killing at a named call (not after a delay) makes each crash land exactly
at the step it names.
"""

from __future__ import annotations

import importlib
import os
import signal
from typing import Any


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
