"""A threaded JSON-over-HTTP server on loopback that the REST fakes answer through."""

from __future__ import annotations

import json
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

Reply = tuple[int, Any]
"""An HTTP status and a JSON-able body (``None``: no body)."""
Route = Callable[[str, str, dict[str, str], bytes], Reply]
"""``(method, path with query, headers, body) -> reply``."""


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackServer
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            status, payload = self.server.route(self.command, self.path, headers, body)
        except Exception as exc:
            # A bug in a fake shows up in the client as a 400 naming it: a 5xx would be retried
            # for minutes.
            status, payload = error(400, f"the fake failed: {exc!r}")
        text = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, *args: Any) -> None:
        pass


class LoopbackServer(ThreadingHTTPServer):
    """Serves ``route`` on ``127.0.0.1`` (a free port by default) from a daemon thread."""

    daemon_threads = True
    handler: type[BaseHTTPRequestHandler] = _Handler
    """How a request is read and answered: JSON bodies, unless a fake speaks another protocol."""

    def __init__(self, route: Route, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((host, port), self.handler)
        self.route = route
        # A short poll: stopping waits for it, once per fake.
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LoopbackServer:
        """Start serving in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self.shutdown()
        self.server_close()


class LoopbackFake(ABC):
    """A fake service that answers on its own :class:`LoopbackServer` through :meth:`route`."""

    def __init__(self) -> None:
        self.server = LoopbackServer(self.route)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: where the service answers."""
        return self.server.url

    def start(self) -> Self:
        """Serve on a free loopback port."""
        self.server.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.stop()

    @abstractmethod
    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        """Answer one request."""


def dispatch(
    routes: Iterable[tuple[str, str, Callable[..., Reply]]], method: str, path: str, service: str
) -> Reply:
    """The reply of the first ``(method, pattern, answer)`` route whose pattern matches all of
    ``path``, called with the pattern's groups; a 404 naming the ``service`` fake if none does."""
    for verb, pattern, answer in routes:
        match = re.fullmatch(pattern, path)
        if match and verb == method:
            return answer(*match.groups())
    return error(404, f"the {service} fake does not answer {method} {path}", "notFound")


_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
}


def error(status: int, message: str, reason: str = "invalid") -> Reply:
    """A Google API error body (``{"error": {...}}``) as the client libraries parse it."""
    return status, {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": _STATUS.get(status, "INTERNAL"),
        }
    }
