"""A prediction server in a child process: started on a free loopback port, stopped like a platform.

The quick start and the benchmark send real HTTP traffic to ``mlops-kit serve``; this runs it in
the project directory with the interpreter of the caller and stops it with SIGTERM, on which the
server writes the rest of its prediction log before it exits.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Self

from typing_extensions import override

from mlops_kit.errors import BackendError
from mlops_kit.resources import Resource


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerProcess(Resource):
    """``mlops-kit --env ENV serve REF`` in ``root``, on ``127.0.0.1`` and a free port.

    A ``with`` block starts the server on entering and stops it on leaving.

    Args:
        root: the project directory (the server resolves the environment there).
        ref: ``NAME@ALIAS`` to serve.
        env: the environment name.
        options: more options of ``mlops-kit serve``.
        log: where its output goes (default: ``server-PORT.log`` in ``root``).
    """

    def __init__(
        self,
        root: Path,
        ref: str,
        *options: str,
        env: str = "local",
        log: Path | None = None,
    ) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log or root / f"server-{self.port}.log"
        self.command = [
            sys.executable, "-m", "mlops_kit", "--env", env,
            "serve", ref, "--port", str(self.port), *options,
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> dict[str, Any]:
        """Start the server and wait until it is ready; returns its readiness answer.

        Raises:
            BackendError: it exited or was not ready within ``timeout`` seconds (its log's end
                is in the message).
        """
        import httpx

        # The child resolves the environment from the project alone, not from the caller's shell.
        environ = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_KIT_")}
        # The child runs this very kit, even when it is not the one installed.
        kit_root = str(Path(__file__).resolve().parents[2])
        environ["PYTHONPATH"] = os.pathsep.join(filter(None, [kit_root, environ.get("PYTHONPATH")]))
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.command, cwd=self.root, stdout=log, stderr=subprocess.STDOUT, env=environ
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BackendError(f"the prediction server exited: {self._log_tail()}")
            try:
                response = httpx.get(f"{self.url}/ready", timeout=2)
                if response.status_code == 200:
                    ready: dict[str, Any] = response.json()
                    return ready
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise BackendError(
            f"the prediction server was not ready in {timeout:.0f} s: {self._log_tail()}"
        )

    def _log_tail(self) -> str:
        lines = self.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return " | ".join(lines[-3:]) or "no output"

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, then wait for the log to be written (killed after ``timeout`` seconds)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    @override
    def __enter__(self) -> Self:
        self.start()
        return self

    @override
    def close(self) -> None:
        """Stop the server (see :meth:`stop`)."""
        self.stop()
