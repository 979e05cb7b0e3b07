"""Reading versions from the metadata database: by reference, in full, or as a listing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CompoundSelect, ScalarSelect, null, select, union_all
from sqlalchemy.orm import Session

from mlops_kit.db.models.registry import ModelAlias, ModelMetric, ModelVersionRow, RegisteredModel
from mlops_kit.errors import NotFoundError
from mlops_kit.kit import Kit
from mlops_kit.models.lineage_rows import read_lineage
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


def _model_id(name: str) -> ScalarSelect[int]:
    """The id of model ``name``, as a subquery of the statement that needs it.

    A subquery rather than a join: PostgreSQL computes it first and then reads the versions of
    that one model from the index on (model, status, version), newest first, and stops at the
    limit; with a join it plans for every model's versions and sorts them.
    """
    return select(RegisteredModel.id).where(RegisteredModel.name == name).scalar_subquery()


def version_row(session: Session, ref: ModelRef, *, ready_only: bool = True) -> ModelVersionRow:
    """The row of the version ``ref`` names (only a ready one unless ``ready_only`` is false).

    Raises:
        NotFoundError: the model, version or alias does not exist; the message lists what does.
    """
    # One statement when the version exists; the messages of a miss may take a few more.
    query = select(ModelVersionRow).where(ModelVersionRow.model_id == _model_id(ref.name))
    if ref.version is not None:
        query = query.where(ModelVersionRow.version == ref.version)
    elif ref.alias == LATEST:
        query = query.where(ModelVersionRow.status == "ready").order_by(
            ModelVersionRow.version.desc()
        )
    else:
        query = query.join(
            ModelAlias,
            (ModelAlias.version_id == ModelVersionRow.id)
            & (ModelAlias.model_id == ModelVersionRow.model_id),
        ).where(ModelAlias.alias == ref.alias)
    row = session.scalars(query.limit(1)).first()
    if row is None:
        model = model_row(session, ref.name)
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
    lineage = read_lineage(session, row.id)
    return ModelVersion(
        **_summary_fields(row, name, lineage.aliases, lineage.metrics),
        flavor=row.flavor,
        ready_at=row.ready_at and as_utc(row.ready_at),
        pipeline_run_id=row.pipeline_run_id,
        git_commit=row.git_commit,
        files=lineage.files,
        slices=lineage.slices,
        params=lineage.params,
        tags=lineage.tags,
        datasets=lineage.datasets,
        components=lineage.components,
    )


def get_version(kit: Kit, ref: ModelRef | str) -> ModelVersion:
    """The ready version ``ref`` names, with its whole lineage.

    Raises:
        NotFoundError: the model, version or alias does not exist, or the version is not ready.
        ConfigError: ``ref`` is malformed.
    """
    ref = as_ref(ref)
    with kit.metadata.reading() as session:
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
    with kit.metadata.reading() as session:
        # Plain rows, not ORM objects: a model may have tens of thousands of versions.
        listed = (
            select(
                ModelVersionRow.id,
                ModelVersionRow.model_id,
                ModelVersionRow.version,
                ModelVersionRow.status,
                ModelVersionRow.artifact_uri,
                ModelVersionRow.created_by,
                ModelVersionRow.created_at,
                ModelVersionRow.failure,
            )
            .where(ModelVersionRow.model_id == _model_id(name))
            .order_by(ModelVersionRow.version.desc())
            .limit(limit)
        )
        if not include_unready:
            listed = listed.where(ModelVersionRow.status == "ready")
        rows = session.execute(listed).all()
        if not rows:
            model_row(session, name)  # an unknown model is an error, a model without versions not
            return []
        attached = _metrics_and_aliases(session, rows, include_unready=include_unready)
        return [
            ModelVersionSummary(
                **_summary_fields(
                    row,
                    name,
                    attached.get(row.id, ({}, []))[1],
                    attached.get(row.id, ({}, []))[0],
                )
            )
            for row in rows
        ]


def _metrics_and_aliases(
    session: Session, rows: Sequence[Any], *, include_unready: bool
) -> dict[int, tuple[dict[str, float], list[str]]]:
    """The overall metrics and the aliases of the listed versions, in one statement.

    The listed versions are the model's newest: every version from the oldest listed up, which
    the index on (model, status, version) reads as one range, with no list of ids to send. The
    bounds of the listed ids tell PostgreSQL how few metric rows that is, so it reads them by
    index rather than scanning every metric of the model.
    """
    ids = [row.id for row in rows]
    versions = (
        select(ModelVersionRow.id)
        .where(ModelVersionRow.model_id == rows[0].model_id)
        .where(ModelVersionRow.version >= rows[-1].version)
    )
    if not include_unready:
        versions = versions.where(ModelVersionRow.status == "ready")
    statement: CompoundSelect[Any] = union_all(
        select(ModelMetric.version_id, ModelMetric.name, ModelMetric.value)
        .where(ModelMetric.version_id.in_(versions.scalar_subquery()))
        .where(ModelMetric.version_id.between(min(ids), max(ids)))
        .where(ModelMetric.slice_column == ""),
        select(ModelAlias.version_id, ModelAlias.alias, null()).where(
            ModelAlias.model_id == rows[0].model_id
        ),
    )
    attached: dict[int, tuple[dict[str, float], list[str]]] = {}
    for version_id, label, value in session.execute(statement):
        metrics, aliases = attached.setdefault(version_id, ({}, []))
        if value is None:
            aliases.append(label)
        else:
            metrics[label] = value
    return {
        version_id: (dict(sorted(metrics.items())), sorted(aliases))
        for version_id, (metrics, aliases) in attached.items()
    }
