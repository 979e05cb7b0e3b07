"""Model versioning: the registry of versions, lineage, aliases and their history.

Versions are immutable: ``NAME/VERSION/`` in the artifact store is written once, checksummed, and
recorded in the metadata database with the metrics, parameters, data versions and component versions
it came from. Aliases move between versions by :func:`promote` and :func:`rollback`, every move kept
in :func:`history`; on an environment's protected aliases, :func:`request_promotion` asks and
:func:`approve` (by someone else) moves; :func:`start_canary` and :func:`withdraw_canary` record a
version trying a share of an alias's traffic. :func:`compare` puts two versions side by side and, on a
dataset, compares their predictions and that data's health. :func:`mirror` copies a ready version
to the environment's registry mirror (see :mod:`mlops_kit.mirrors`), which :func:`register` also
does when one is set.
"""

from __future__ import annotations

from mlops_kit.models.aliases import (
    AliasEvent,
    check_proposal,
    history,
    holder_at,
    promote,
    rollback,
)
from mlops_kit.models.approvals import approve, is_protected, pending_request, request_promotion
from mlops_kit.models.canaries import Canary, running_canary, start_canary, withdraw_canary
from mlops_kit.models.compare import ModelComparison, compare, comparison_page, input_health
from mlops_kit.models.flavors import LoadedModel, ModelFlavor, register_flavor
from mlops_kit.models.garbage import GcReport, collect_garbage
from mlops_kit.models.loading import download, load_model
from mlops_kit.models.lookup import get_version, list_versions
from mlops_kit.models.metrics_file import parse_metrics, read_metrics_file
from mlops_kit.models.mirroring import mirror
from mlops_kit.models.names import ModelRef
from mlops_kit.models.registration import Lineage, register
from mlops_kit.models.versions import ModelVersion, ModelVersionSummary

__all__ = [
    "AliasEvent",
    "Canary",
    "GcReport",
    "Lineage",
    "LoadedModel",
    "ModelComparison",
    "ModelFlavor",
    "ModelRef",
    "ModelVersion",
    "ModelVersionSummary",
    "approve",
    "check_proposal",
    "collect_garbage",
    "compare",
    "comparison_page",
    "download",
    "get_version",
    "history",
    "holder_at",
    "input_health",
    "is_protected",
    "list_versions",
    "load_model",
    "mirror",
    "parse_metrics",
    "pending_request",
    "promote",
    "read_metrics_file",
    "register",
    "register_flavor",
    "request_promotion",
    "rollback",
    "running_canary",
    "start_canary",
    "withdraw_canary",
]
