"""The backend registry of each environment role, by role name."""

from __future__ import annotations

from typing import Final

from mlops_kit.artifacts import ARTIFACT_STORES
from mlops_kit.backends import Backend, SchemeRegistry
from mlops_kit.db import METADATA_DATABASES
from mlops_kit.mirrors import REGISTRY_MIRRORS
from mlops_kit.orchestrators import ORCHESTRATORS
from mlops_kit.warehouse import WAREHOUSES

REGISTRIES: Final[dict[str, SchemeRegistry[Backend]]] = {
    "warehouse": WAREHOUSES,  # type: ignore[dict-item]
    "artifacts": ARTIFACT_STORES,  # type: ignore[dict-item]
    "metadata": METADATA_DATABASES,  # type: ignore[dict-item]
    "orchestrator": ORCHESTRATORS,  # type: ignore[dict-item]
    "registry_mirror": REGISTRY_MIRRORS,  # type: ignore[dict-item]
}
