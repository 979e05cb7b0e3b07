"""The Kubeflow Pipelines v2beta1 REST API on loopback, for the ``kfp_server_api`` client.

It answers the calls the kit makes (health, experiments, runs, recurring runs) with fixed
resources and records every request with its JSON body.
"""

from __future__ import annotations

import json
from typing import Any

from tests.cloud_twin.http import LoopbackServer, Reply

RUN = {
    "run_id": "run-1",
    "display_name": "svc-model-training",
    "state": "SUCCEEDED",
    "created_at": "2026-11-02T03:00:00Z",
}
"""The one run the fake lists."""


class FakeKubeflow:
    """Answers the few KFP v2beta1 calls the kit makes and records their bodies."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.server = LoopbackServer(self.route)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, the KFP host (``kfp+http://...`` in an environment)."""
        return self.server.url

    def start(self) -> FakeKubeflow:
        """Serve on a free loopback port."""
        self.server.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.stop()

    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        """Answer one request."""
        parsed = json.loads(body) if body else None
        self.requests.append((method, path, parsed))
        if path.startswith("/apis/v2beta1/healthz"):
            return 200, {"commit_sha": "0123456789abcdef", "tag_name": "2.5.0", "multi_user": False}
        if method == "GET" and path.startswith("/apis/v2beta1/experiments"):
            return 200, {"experiments": []}
        if method == "GET":
            return 200, {"runs": [RUN]}
        if path.startswith("/apis/v2beta1/experiments"):
            return 200, {"experiment_id": "exp-1", "display_name": parsed["display_name"]}
        if path.startswith("/apis/v2beta1/recurringruns"):
            return 200, {"recurring_run_id": "rec-1", "display_name": parsed["display_name"]}
        return 200, {**RUN, "display_name": parsed["display_name"], "state": "PENDING"}
