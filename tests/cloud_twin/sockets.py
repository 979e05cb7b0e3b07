"""Loopback TCP servers below HTTP: the Cloud SQL server-side proxy, the gRPC CONNECT proxy."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


class TcpServer:
    """Accepts connections on ``address`` from a daemon thread; ``handle`` serves each connection
    in a thread of its own."""

    def __init__(self, address: tuple[str, int], handle: Callable[[socket.socket], None]) -> None:
        self.listener = socket.create_server(address)
        self.stopping = threading.Event()
        """Set when the server stops accepting: on :meth:`stop`, or when its owner sets it."""
        self._handle = handle

    @property
    def port(self) -> int:
        """The port it listens on."""
        port: int = self.listener.getsockname()[1]
        return port

    def start(self) -> None:
        """Start accepting."""
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        """Stop accepting and release the port; connections already open go on."""
        self.stopping.set()
        self.listener.close()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()
