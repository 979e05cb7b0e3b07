"""Reading versions from the metadata database: by reference, in full, or as a listing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mlops_kit.db.models.data import Dataset, DatasetVersionRow
from mlops_kit.db.models.registry import (
    ModelAlias,
    ModelDataLineage,
    ModelMetric,
    ModelVersionRow,
    RegisteredModel,
)
from mlops_kit.errors import NotFoundError
from mlops_kit.kit import Kit
from mlops_kit.models.names import LATEST, ModelRef, as_ref, check_model_name
from mlops_kit.models.versions import ModelVersion, ModelVersionSummary


def model_row(session: Session, name: str, *, for_update: bool = False) -> RegisteredModel:
    """The registered model ``name``, locked for the transaction when ``for_update``.

    Raises:
        NotFoundError: no model has that name; the message lists the known ones.
    """
    query = select(RegisteredModel).where(RegisteredModel.name == name)
    model = session.scalars(query.with_for_update() if for_update else query).first()
    if model is None:
        known = session.scalars(select(RegisteredModel.name).order_by(RegisteredModel.name)).all()
        hint = (
            f"known models: {', '.join(known[:20])}"
            if known
            else "no model is registered yet: register one with `mlops-kit models register`"
        )
        raise NotFoundError(f"unknown model {name!r} ({hint})")
    return model


def version_row(session: Session, ref: ModelRef, *, ready_only: bool = True) -> ModelVersionRow:
    """The row of the version ``ref`` names (only a ready one unless ``ready_only`` is false).

    Raises:
        NotFoundError: the model, version or alias does not exist; the message lists what does.
    """
    model = model_row(session, ref.name)
    query = select(ModelVersionRow).where(ModelVersionRow.model_id == model.id)
    if ref.version is not None:
        query = query.where(ModelVersionRow.version == ref.version)
    elif ref.alias == LATEST:
        query = query.where(ModelVersionRow.status == "ready").order_by(
            ModelVersionRow.version.desc()
        )
    else:
        query = query.join(ModelAlias, ModelAlias.version_id == ModelVersionRow.id).where(
            ModelAlias.alias == ref.alias
        )
    row = session.scalars(query.limit(1)).first()
    if row is None:
        if ref.version is not None:
            raise NotFoundError(
                f"model {ref.name!r} has no version {ref.version} "
                f"(its latest is {model.last_version or 'none'})"
            )
        if ref.alias == LATEST:
            raise NotFoundError(f"model {ref.name!r} has no ready version yet")
        aliases = session.scalars(
            select(ModelAlias.alias)
            .where(ModelAlias.model_id == model.id)
            .order_by(ModelAlias.alias)
        ).all()
        hint = f"its aliases are {', '.join(aliases)}" if aliases else "it has no alias yet"
        raise NotFoundError(
            f"model {ref.name!r} has no alias {ref.alias!r} ({hint}); "
            f"set one with `mlops-kit models promote {ref.name}@VERSION --alias {ref.alias}`"
        )
    if ready_only and row.status != "ready":
        raise NotFoundError(
            f"version {ref.name}@{row.version} is {row.status.upper()}, not READY: "
            "only ready versions can be read"
        )
    return row


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC time (SQLite returns the stored UTC times without a zone)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _aliases_by_version(session: Session, version_ids: Sequence[int]) -> dict[int, list[str]]:
    result: dict[int, list[str]] = {}
    rows = session.execute(
        select(ModelAlias.version_id, ModelAlias.alias)
        .where(ModelAlias.version_id.in_(version_ids))
        .order_by(ModelAlias.alias)
    )
    for version_id, alias in rows:
        result.setdefault(version_id, []).append(alias)
    return result


def _summary_fields(
    row: Any, name: str, aliases: list[str], metrics: dict[str, float]
) -> dict[str, Any]:
    """The fields of a :class:`ModelVersionSummary`, from a version's ORM object or plain row."""
    return {
        "name": name,
        "version": row.version,
        "status": row.status,
        "artifact_uri": row.artifact_uri,
        "created_by": row.created_by,
        "created_at": as_utc(row.created_at),
        "aliases": aliases,
        "metrics": metrics,
        "failure": row.failure,
    }


def full_version(session: Session, row: ModelVersionRow, name: str) -> ModelVersion:
    """The :class:`ModelVersion` of ``row`` with its lineage, read in ``session``."""
    overall: dict[str, float] = {}
    slices: dict[str, dict[str, dict[str, float]]] = {}
    for metric in row.metrics:
        if metric.slice_column:
            per_value = slices.setdefault(metric.slice_column, {})
            per_value.setdefault(metric.slice_value, {})[metric.name] = metric.value
        else:
            overall[metric.name] = metric.value
    components: dict[str, dict[str, str]] = {}
    for component in sorted(row.components, key=lambda c: (c.kind, c.name)):
        components.setdefault(component.kind, {})[component.name] = component.version
    datasets = [
        f"{dataset_name}@{version}"
        for dataset_name, version in session.execute(
            select(Dataset.name, DatasetVersionRow.version)
            .join(DatasetVersionRow, DatasetVersionRow.dataset_id == Dataset.id)
            .join(ModelDataLineage, ModelDataLineage.dataset_version_id == DatasetVersionRow.id)
            .where(ModelDataLineage.version_id == row.id)
            .order_by(Dataset.name)
        )
    ]
    aliases = _aliases_by_version(session, [row.id]).get(row.id, [])
    return ModelVersion(
        **_summary_fields(row, name, aliases, dict(sorted(overall.items()))),
        flavor=row.flavor,
        ready_at=row.ready_at and as_utc(row.ready_at),
        pipeline_run_id=row.pipeline_run_id,
        git_commit=row.git_commit,
        files=[
            {"path": f.path, "key": f.key, "size": f.size, "sha256": f.sha256, "md5": f.md5}
            for f in row.files
        ],
        slices=slices,
        params=dict(sorted((p.key, p.value) for p in row.params)),
        tags=dict(sorted((t.key, t.value) for t in row.tags)),
        datasets=datasets,
        components=components,
    )


def get_version(kit: Kit, ref: ModelRef | str) -> ModelVersion:
    """The ready version ``ref`` names, with its whole lineage.

    Raises:
        NotFoundError: the model, version or alias does not exist, or the version is not ready.
        ConfigError: ``ref`` is malformed.
    """
    ref = as_ref(ref)
    with kit.metadata.session() as session:
        row = version_row(session, ref)
        return full_version(session, row, ref.name)


def list_versions(
    kit: Kit, name: str, *, limit: int | None = None, include_unready: bool = False
) -> list[ModelVersionSummary]:
    """The versions of model ``name``, newest first.

    Args:
        kit: the environment.
        name: the model.
        limit: at most this many versions.
        include_unready: also list pending and failed versions (for operators).

    Raises:
        NotFoundError: the model does not exist.
    """
    check_model_name(name)
    with kit.metadata.session() as session:
        model = model_row(session, name)
        # Plain rows, not ORM objects: a model may have tens of thousands of versions.
        listed = (
            select(ModelVersionRow.id)
            .where(ModelVersionRow.model_id == model.id)
            .order_by(ModelVersionRow.version.desc())
            .limit(limit)
        )
        if not include_unready:
            listed = listed.where(ModelVersionRow.status == "ready")
        chosen = listed.subquery()
        rows = session.execute(
            select(
                ModelVersionRow.id,
                ModelVersionRow.version,
                ModelVersionRow.status,
                ModelVersionRow.artifact_uri,
                ModelVersionRow.created_by,
                ModelVersionRow.created_at,
                ModelVersionRow.failure,
            )
            .join(chosen, chosen.c.id == ModelVersionRow.id)
            .order_by(ModelVersionRow.version.desc())
        ).all()
        metrics: dict[int, dict[str, float]] = {}
        for version_id, metric, value in session.execute(
            select(ModelMetric.version_id, ModelMetric.name, ModelMetric.value)
            .join(chosen, chosen.c.id == ModelMetric.version_id)
            .where(ModelMetric.slice_column == "")
            .order_by(ModelMetric.name)
        ):
            metrics.setdefault(version_id, {})[metric] = value
        aliases: dict[int, list[str]] = {}
        for version_id, alias in session.execute(
            select(ModelAlias.version_id, ModelAlias.alias)
            .where(ModelAlias.model_id == model.id)
            .order_by(ModelAlias.alias)
        ):
            aliases.setdefault(version_id, []).append(alias)
        return [
            ModelVersionSummary(
                **_summary_fields(row, name, aliases.get(row.id, []), metrics.get(row.id, {}))
            )
            for row in rows
        ]
