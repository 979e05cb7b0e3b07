"""The backends each contract suite runs on: every registered one that can run offline.

:data:`OFFLINE` lists, per role, the schemes whose contract suite runs here, one URI each
(``artifacts_uri`` and ``warehouse_uri`` below, ``metadata_url`` in ``tests/conftest.py``, ``URIS``
of ``test_orchestrators.py``, ``deploy_kit`` of ``test_deploy_targets.py``); :data:`ONLINE_ONLY`
the others with the reason. A test checks that every registered scheme is in one of the two, so
a new backend cannot miss its contract tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_kit.backends import Backend, SchemeRegistry
from mlops_kit.deploy_targets import DEPLOY_TARGETS
from mlops_kit.registries import REGISTRIES
from tests.models.conftest import gcs_emulator, gcs_uri
from tests.serving.conftest import cluster

__all__ = ["cluster", "gcs_emulator", "gcs_uri"]

ROLES: dict[str, SchemeRegistry[Backend]] = {**REGISTRIES, "deploy": DEPLOY_TARGETS}  # type: ignore[dict-item]
"""Every role's registry. The deploy role sits above the model registry (its targets move
aliases), so it is not among the environment's :data:`~mlops_kit.registries.REGISTRIES`."""

OFFLINE: dict[str, set[str]] = {
    "artifacts": {"file", "gs"},
    "warehouse": {"duckdb"},
    "metadata": {"sqlite", "postgresql"},
    "orchestrator": {"kfp-local"},
    "deploy": {"local", "gke"},
}
"""Role → the schemes whose backend runs its contract suite here."""

ONLINE_ONLY: dict[str, dict[str, str]] = {
    "warehouse": {"bigquery": "no offline BigQuery runs the statistics' SQL"},
    "metadata": {
        "postgres": "an alias of postgresql://",
        "postgresql+psycopg": "an alias of postgresql:// with its driver",
        "postgresql+pg8000": "an alias of postgresql:// with its driver",
        "cloudsql": "the Cloud SQL connector needs Google Cloud",
    },
    "orchestrator": {
        "kfp+http": "needs a Kubeflow Pipelines API server",
        "kfp+https": "needs a Kubeflow Pipelines API server",
        "vertex": "needs Vertex AI",
    },
    "deploy": {
        "vertex-endpoint": "needs the cloud twin's Vertex AI and Cloud SQL "
        "(tests/cloud_twin/test_vertex_endpoint.py)",
    },
    "registry_mirror": {
        "vertex": "the role's only backend; tested against the cloud twin's Vertex AI fake "
        "(tests/models/test_registry_mirror.py)",
    },
}
"""Role → scheme → why its backend has no offline contract run."""


@pytest.fixture(params=["file", pytest.param("gs", marks=pytest.mark.gcs)])
def artifacts_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh artifact store: a local directory, then a bucket of the GCS emulator."""
    if request.param == "file":
        return (tmp_path / "artifacts").as_uri()
    uri: str = request.getfixturevalue("gcs_uri")
    return uri


@pytest.fixture(params=["duckdb"])
def warehouse_uri(tmp_path: Path) -> str:
    """A fresh warehouse: a DuckDB file."""
    return f"duckdb://{tmp_path / 'warehouse' / 'warehouse.duckdb'}"
