"""The Kubeflow Pipelines v2beta1 REST API on loopback, for the ``kfp_server_api`` client.

It answers the calls the kit makes (health, experiments, runs, recurring runs) with fixed
resources and records every request with its JSON body; a created run goes through
:attr:`FakeKubeflow.tasks` as it is read (:class:`~tests.cloud_twin.runs.Progression`). Like the
deployed endpoint behind Identity-Aware Proxy, it first wants ``Authorization: Bearer`` with a
Google ID token for its audience (issued by the twin's token endpoint) and refuses anything else
with 401.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.cloud_twin.http import LoopbackFake, Reply, error
from tests.cloud_twin.oauth import TokenEndpoint
from tests.cloud_twin.runs import Progression

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
        self.busy = 0
        """How many runs of other pipelines the listing shows before :data:`RUN`, newest first
        (a busy project, whose runs a page of the listing does not reach)."""
        self.tasks: list[str] = []
        """The tasks a created run goes through as it is read, in order."""
        self.outcome = "SUCCEEDED"
        """How a created run ends (``RUNNING``: it never does)."""
        self.progressions: dict[str, tuple[str, Progression]] = {}
        """Each created run's display name and progression, by run id."""
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
        if method == "GET":
            return self._get(path)
        if path.startswith("/apis/v2beta1/experiments"):
            return 200, {"experiment_id": "exp-1", "display_name": parsed["display_name"]}
        if path.startswith("/apis/v2beta1/recurringruns"):
            return 200, {"recurring_run_id": "rec-1", "display_name": parsed["display_name"]}
        # Each created run has its own id: run-1, run-2, ...
        run_id = f"run-{len(self.progressions) + 1}"
        self.progressions[run_id] = (
            parsed["display_name"],
            Progression(list(self.tasks), self.outcome),
        )
        return 200, {
            **RUN,
            "run_id": run_id,
            "display_name": parsed["display_name"],
            "state": "PENDING",
        }

    def finish(self, run_id: str, outcome: str) -> None:
        """End created run ``run_id`` as ``outcome`` says once it is read next."""
        self.progressions[run_id][1].outcome = outcome

    def _get(self, path: str) -> Reply:
        if path.startswith("/apis/v2beta1/healthz"):
            return 200, {"commit_sha": "0123456789abcdef", "tag_name": "2.5.0", "multi_user": False}
        if path.startswith("/apis/v2beta1/experiments"):
            return 200, {"experiments": []}
        if read := re.fullmatch(r"/apis/v2beta1/runs/([^/?]+)", path):
            return self._read_run(read.group(1))
        others = [
            {**RUN, "run_id": f"other-{i}", "display_name": f"other-pipeline-{i}"}
            for i in range(self.busy, 0, -1)
        ]
        size = int(parse_qs(urlsplit(path).query).get("page_size", ["0"])[0]) or None
        return 200, {"runs": [*others, RUN][:size]}

    def _read_run(self, run_id: str) -> Reply:
        """``runs.get``: the run a step further, with a task detail per task (and the root DAG)."""
        if run_id not in self.progressions:
            return error(404, f"run {run_id} not found")
        name, progression = self.progressions[run_id]
        state, tasks = progression.read()
        details = [{"display_name": "root", "task_id": "t-0", "state": state}]
        details += [
            {"display_name": task, "task_id": f"t-{i}", "parent_task_id": "t-0", "state": value}
            for i, (task, value) in enumerate(tasks.items(), start=1)
        ]
        failed = [task for task, value in tasks.items() if value == "FAILED"]
        ended = {"finished_at": "2026-11-02T03:20:30Z"} if state != "RUNNING" else {}
        return 200, {
            **RUN,
            **ended,
            "run_id": run_id,
            "display_name": name,
            "state": state,
            "run_details": {"task_details": details},
            **({"error": {"message": f"task {failed[0]} failed"}} if failed else {}),
        }
