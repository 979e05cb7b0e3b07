"""Pipelines on Kubeflow Pipelines (standalone, on GKE), ``kfp+https://HOST[/PATH]``."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from typing_extensions import override

from mlops_kit.errors import BackendError
from mlops_kit.orchestrators import Orchestrator


class KubeflowRunner(Orchestrator):
    """Submits compiled pipelines to a Kubeflow Pipelines API server."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        self.host = uri.removeprefix("kfp+").rstrip("/")

    @override
    def check(self) -> str:
        url = f"{self.host}/apis/v2beta1/healthz"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - URL from config
                health = json.load(response)
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BackendError(
                f"Kubeflow Pipelines at {self.host} is unreachable ({reason}): it is private, "
                "reach it from the VPC or through `kubectl port-forward`"
            ) from exc
        return f"Kubeflow Pipelines {health.get('commit_sha', '')[:8] or 'API'} at {self.host}"
