"""A webhook receiver on loopback: records every JSON body posted to it."""

from __future__ import annotations

import json
from typing import Any

from tests.cloud_twin.http import LoopbackServer, Reply


class WebhookReceiver:
    """Answers each POST with ``status`` and keeps the bodies, as a chat webhook would receive them."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[dict[str, Any]] = []
        self.content_types: list[str] = []
        self.server = LoopbackServer(self.route)

    @property
    def url(self) -> str:
        """Where to post: ``http://127.0.0.1:PORT/hooks/ml-team``."""
        return f"{self.server.url}/hooks/ml-team"

    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        """Record one request."""
        assert (method, path) == ("POST", "/hooks/ml-team")
        self.content_types.append(headers.get("content-type", ""))
        self.bodies.append(json.loads(body))
        return self.status, {"ok": self.status < 300}

    def events(self) -> list[str]:
        """The ``event`` of each body received, in order."""
        return [body["event"] for body in self.bodies]

    def __enter__(self) -> WebhookReceiver:
        self.server.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.stop()
