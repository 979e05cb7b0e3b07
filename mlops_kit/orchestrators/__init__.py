"""The orchestrator role: where pipelines run.

Backends by scheme: ``kfp-local`` (``kfp.local`` in subprocesses on this machine, offline),
``kfp+http://HOST`` / ``kfp+https://HOST`` (Kubeflow Pipelines on GKE) and
``vertex://PROJECT/LOCATION`` (Vertex AI Pipelines).
"""

from __future__ import annotations

from mlops_kit.backends import Backend, SchemeRegistry


class Orchestrator(Backend):
    """Runs compiled pipelines."""


ORCHESTRATORS: SchemeRegistry[Orchestrator] = SchemeRegistry("orchestrator", Orchestrator)
ORCHESTRATORS.register(["kfp-local"], "mlops_kit.orchestrators.local:LocalRunner")
ORCHESTRATORS.register(["kfp+http", "kfp+https"], "mlops_kit.orchestrators.kubeflow:KubeflowRunner")
ORCHESTRATORS.register(["vertex"], "mlops_kit.orchestrators.vertex:VertexRunner")


def open_orchestrator(uri: str) -> Orchestrator:
    """Return the orchestrator for ``uri``.

    Raises:
        UnknownSchemeError: no backend serves the URI's scheme.
    """
    return ORCHESTRATORS.resolve(uri)(uri)
