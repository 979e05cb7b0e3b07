"""The Kubeflow Pipelines v2beta1 REST API on loopback, for the ``kfp_server_api`` client.

It answers the calls the kit makes (health, experiments, runs, recurring runs) with fixed
resources and records every request with its JSON body. Like the deployed endpoint behind
Identity-Aware Proxy, it first wants ``Authorization: Bearer`` with a Google ID token for its
audience (issued by the twin's token endpoint) and refuses anything else with 401.
"""

from __future__ import annotations

import json
from typing import Any

from tests.cloud_twin.http import LoopbackFake, Reply, error
from tests.cloud_twin.oauth import TokenEndpoint

AUDIENCE = "000000000000-twin.apps.googleusercontent.com"
"""The OAuth client id Identity-Aware Proxy expects as the ID token's audience."""

RUN = {
    "run_id": "run-1",
    "display_name": "svc-model-training",
    "state": "SUCCEEDED",
    "created_at": "2026-11-02T03:00:00Z",
}
"""The one run the fake lists."""


class FakeKubeflow(LoopbackFake):
    """Answers the few KFP v2beta1 calls the kit makes and records their bodies."""

    def __init__(self, tokens: TokenEndpoint, audience: str = AUDIENCE) -> None:
        self.tokens = tokens
        self.audience = audience
        self.callers: list[str] = []
        """The account behind each request let through."""
        self.requests: list[tuple[str, str, Any]] = []
        self.listed_state = RUN["state"]
        """The state the listed run reports (a test sets ``RUNNING`` for a run still going)."""
        super().__init__()

    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        """Answer one request."""
        scheme, _, token = headers.get("authorization", "").partition(" ")
        account = self.tokens.id_token_account(token, self.audience) if scheme == "Bearer" else None
        if account is None:
            return error(401, "Invalid IAP credentials: no Google ID token for this audience")
        self.callers.append(account)
        return self._answer(method, path, body)

    def _answer(self, method: str, path: str, body: bytes) -> Reply:
        parsed = json.loads(body) if body else None
        self.requests.append((method, path, parsed))
        if path.startswith("/apis/v2beta1/healthz"):
            return 200, {"commit_sha": "0123456789abcdef", "tag_name": "2.5.0", "multi_user": False}
        if method == "GET" and path.startswith("/apis/v2beta1/experiments"):
            return 200, {"experiments": []}
        if method == "GET":
            return 200, {"runs": [{**RUN, "state": self.listed_state}]}
        if path.startswith("/apis/v2beta1/experiments"):
            return 200, {"experiment_id": "exp-1", "display_name": parsed["display_name"]}
        if path.startswith("/apis/v2beta1/recurringruns"):
            return 200, {"recurring_run_id": "rec-1", "display_name": parsed["display_name"]}
        return 200, {**RUN, "display_name": parsed["display_name"], "state": "PENDING"}
