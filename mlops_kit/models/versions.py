"""What the registry tells about a model version: the listing summary and the full lineage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from mlops_kit.artifacts import StoredObject


@dataclass(frozen=True)
class ModelVersionSummary:
    """What a listing shows of a version."""

    name: str
    version: int
    status: str
    artifact_uri: str
    created_by: str
    created_at: datetime
    aliases: list[str]
    metrics: dict[str, float]
    """The overall metrics."""
    failure: str | None = None
    """Why a failed version failed."""

    @property
    def ref(self) -> str:
        """``NAME@VERSION``."""
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field."""
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        if isinstance(data.get("ready_at"), datetime):
            data["ready_at"] = data["ready_at"].isoformat()
        return data


@dataclass(frozen=True)
class ModelVersion(ModelVersionSummary):
    """A version with its whole lineage."""

    flavor: str | None = None
    ready_at: datetime | None = None
    pipeline_run_id: str | None = None
    git_commit: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    """``{"path", "key", "size", "sha256", "md5"}`` per file of the artifact."""
    slices: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    """Per-slice metrics: column → value → metric → number."""
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    datasets: list[str] = field(default_factory=list)
    """The dataset versions it was trained on, as ``DATASET@VERSION``."""
    components: dict[str, dict[str, str]] = field(default_factory=dict)
    """Component versions by kind (``kit``, ``python``, ``package``, ``image``): name → version."""

    def stored_objects(self) -> list[StoredObject]:
        """The artifact's files as the store records them."""
        return [StoredObject(f["key"], f["size"], f["sha256"], f["md5"]) for f in self.files]
