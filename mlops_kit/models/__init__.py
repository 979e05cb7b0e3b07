"""Model versioning: the registry of versions, lineage, aliases and their history.

Versions are immutable: ``NAME/VERSION/`` in the artifact store is written once, checksummed, and
recorded in the metadata database with the metrics, parameters, data versions and component versions
it came from. Aliases move between versions by :func:`promote` and :func:`rollback`, every move kept
in :func:`history`; on an environment's protected aliases, :func:`request_promotion` asks and
:func:`approve` (by someone else) moves. :func:`compare` puts two versions side by side and, on a
dataset, compares their predictions and that data's health.
"""

from __future__ import annotations

from mlops_kit.models.aliases import AliasEvent, history, holder_at, promote, rollback
from mlops_kit.models.approvals import approve, is_protected, pending_request, request_promotion
from mlops_kit.models.compare import ModelComparison, compare, comparison_page
from mlops_kit.models.flavors import LoadedModel, ModelFlavor, register_flavor
from mlops_kit.models.registry import (
    GcReport,
    ModelRef,
    ModelVersion,
    ModelVersionSummary,
    collect_garbage,
    download,
    get_version,
    list_versions,
    load_model,
    parse_metrics,
    read_metrics_file,
    register,
)

__all__ = [
    "AliasEvent",
    "GcReport",
    "LoadedModel",
    "ModelComparison",
    "ModelFlavor",
    "ModelRef",
    "ModelVersion",
    "ModelVersionSummary",
    "approve",
    "collect_garbage",
    "compare",
    "comparison_page",
    "download",
    "get_version",
    "history",
    "holder_at",
    "is_protected",
    "list_versions",
    "load_model",
    "parse_metrics",
    "pending_request",
    "promote",
    "read_metrics_file",
    "register",
    "register_flavor",
    "request_promotion",
    "rollback",
]
