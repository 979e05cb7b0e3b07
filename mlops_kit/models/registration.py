"""Registering a model version.

A registration is three steps, so that no reader ever sees a half-stored version:

1. one transaction locks the model row, allocates the next version number and writes the version
   ``pending`` with its metrics, params, tags, data lineage and component versions;
2. the artifact is uploaded under ``NAME/VERSION/`` in the environment's artifact store (create-only,
   checksummed);
3. one transaction records the files and marks the version ``ready``.

A failure in 2 or 3 marks the version ``failed`` and removes what was uploaded; a process that dies
leaves a ``pending`` row that :func:`~mlops_kit.models.collect_garbage` removes after a grace period,
with the objects nobody references.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.orm import Session

from mlops_kit import data as datasets
from mlops_kit.artifacts import StoredObject, source_files
from mlops_kit.db.models import utcnow
from mlops_kit.db.models.registry import ModelVersionRow, RegisteredModel
from mlops_kit.errors import ConflictError, MlopsKitError, first_line
from mlops_kit.kit import Kit
from mlops_kit.models.environment_capture import component_versions
from mlops_kit.models.flavors import detect_flavor
from mlops_kit.models.lineage_rows import file_rows, lineage_rows
from mlops_kit.models.lookup import get_version
from mlops_kit.models.metrics_file import NO_METRICS, parse_metrics, read_metrics_file
from mlops_kit.models.mirroring import mirror
from mlops_kit.models.names import ModelRef, check_model_name
from mlops_kit.models.versions import ModelVersion
from mlops_kit.progress import NO_PROGRESS, Progress
from mlops_kit.provenance import current_user


@dataclass(frozen=True)
class Lineage:
    """Where a version comes from, recorded with it."""

    data: Sequence[datasets.DatasetRef | str] = ()
    """The dataset versions it was trained on (``DATASET@V``)."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """Training parameters (values are stored as text)."""
    tags: Mapping[str, Any] = field(default_factory=dict)
    """Free-form labels."""
    pipeline_run_id: str | None = None
    """The pipeline run that trained it."""
    image_digest: str | None = None
    """The training container image digest."""
    git_commit: str | None = None
    """The commit of the training code."""
    created_by: str | None = None
    """Who registers (default: the operating-system user)."""
    packages: Mapping[str, str] | None = None
    """Name → version of the training environment's packages (default: this one's)."""


def register(
    kit: Kit,
    name: str,
    path: Path | str,
    *,
    metrics: Mapping[str, Any] | Path | None = None,
    lineage: Lineage | None = None,
    progress: Progress = NO_PROGRESS,
) -> ModelVersion:
    """Register the file or directory ``path`` as the next version of model ``name``.

    Args:
        kit: the environment.
        name: the model name (created on first registration).
        path: the artifact: a file (``model.joblib``) or a directory.
        metrics: metrics in the kit's format (see :func:`~mlops_kit.models.parse_metrics`), or the
            path of a JSON file holding them.
        lineage: the data, parameters, run and code it came from (default: none recorded, this
            Python environment's packages).
        progress: told the bytes of the artifact as they are stored.

    Returns:
        The ready version.

    Raises:
        NotFoundError: ``path``, the metrics file or a data version does not exist.
        ConfigError: malformed name, metrics or parameters. Nothing is recorded in these cases.
        ConflictError: an object already exists under the version's path.
        BackendError: the metadata database or the artifact store failed; the version is marked
            failed (or left pending for :func:`~mlops_kit.models.collect_garbage` if even that
            failed) and is never visible. Also raised, with the version ready, when the
            environment's registry mirror refuses it.
    """
    lineage = lineage or Lineage()
    check_model_name(name)
    source = Path(path)
    files = source_files(source)  # validates the path before anything is written
    if isinstance(metrics, Path):
        metric_values = read_metrics_file(metrics)
    else:
        metric_values = NO_METRICS if metrics is None else parse_metrics(metrics)
    flavor = detect_flavor([name for _, name in files])
    # Dataset versions are immutable and cannot be deleted while a model references them, so
    # resolving them before the registration transaction is safe.
    dataset_ids = [datasets.get_version(kit, ref).id for ref in lineage.data]
    components = component_versions(lineage.packages, lineage.image_digest)
    pending = _record_pending(
        kit, name, flavor, metric_values, lineage, _Sources(dataset_ids, components)
    )
    _upload(kit, pending, source, files, progress)
    if kit.registry_mirror is not None:
        # The version is ready whatever the mirror answers; a failed mirror is retried on its own.
        mirror(kit, pending.ref)
    return get_version(kit, pending.ref)


@dataclass(frozen=True)
class _Sources:
    """What the lineage refers to, resolved before the registration transaction."""

    dataset_ids: Sequence[int]
    components: Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class _Pending:
    ref: ModelRef
    row_id: int
    model_id: int
    prefix: str

    def still_pending(self) -> ColumnElement[bool]:
        """The condition that finds this version's row while it is pending.

        The id alone is not enough: SQLite hands the id of a row gc deleted to the next row
        inserted, which is another version; (model, version) is never reused.
        """
        return and_(
            ModelVersionRow.id == self.row_id,
            ModelVersionRow.model_id == self.model_id,
            ModelVersionRow.version == self.ref.version,
            ModelVersionRow.status == "pending",
        )


def _record_pending(
    kit: Kit,
    name: str,
    flavor: str | None,
    metrics: Mapping[str, Any],
    lineage: Lineage,
    sources: _Sources,
) -> _Pending:
    """Step 1: allocate the next version number and write the version pending with its lineage."""
    with kit.metadata.session() as session:
        model = _lock_or_create_model(session, name)
        model.last_version += 1
        version = model.last_version
        prefix = f"{name}/{version}"
        row = ModelVersionRow(
            model_id=model.id,
            version=version,
            status="pending",
            artifact_uri=kit.artifacts.object_uri(prefix),
            flavor=flavor,
            pipeline_run_id=lineage.pipeline_run_id,
            git_commit=lineage.git_commit,
            created_by=lineage.created_by or current_user(),
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        session.add_all(
            lineage_rows(
                row.id,
                metrics,
                params=lineage.params,
                tags=lineage.tags,
                dataset_ids=sources.dataset_ids,
                components=sources.components,
            )
        )
        return _Pending(ModelRef(name, version=version), row.id, model.id, prefix)


def _upload(
    kit: Kit,
    pending: _Pending,
    source: Path,
    files: Sequence[tuple[Path, str]],
    progress: Progress,
) -> None:
    """Steps 2 and 3: store the artifact, then record its files and mark the version ready."""
    stored: list[StoredObject] = []
    try:
        stored = kit.artifacts.put(source, pending.prefix, progress)
        with kit.metadata.session() as session:
            finished = session.execute(
                update(ModelVersionRow)
                .where(pending.still_pending())
                .values(status="ready", ready_at=utcnow())
            )
            if finished.rowcount != 1:  # type: ignore[attr-defined]
                raise _removed_by_gc(pending)
            paths = [relative for _, relative in files]
            session.add_all(file_rows(pending.row_id, zip(paths, stored, strict=True)))
    except BaseException as exc:
        still_pending = _fail(kit, pending, [obj.key for obj in stored], exc)
        if not still_pending and isinstance(exc, MlopsKitError):
            # gc removed the version and, with it, what the upload was writing: that is the cause.
            raise _removed_by_gc(pending) from exc
        raise


def _removed_by_gc(pending: _Pending) -> ConflictError:
    return ConflictError(
        f"version {pending.ref} was removed by `models gc` while uploading: register again "
        "(raise gc's grace period above the longest upload)"
    )


def _lock_or_create_model(session: Session, name: str) -> RegisteredModel:
    """The model row of ``name``, locked for this transaction; created if new.

    The insert ignores a conflict so that concurrent first registrations of one model both succeed.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    session.execute(
        insert(RegisteredModel)
        .values(name=name, last_version=0, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["name"])
    )
    return session.scalars(
        select(RegisteredModel)
        .where(RegisteredModel.name == name)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _fail(kit: Kit, pending: _Pending, keys: list[str], exc: BaseException) -> bool:
    """Mark the version failed and delete the objects it stored; what fails is left to gc.

    Returns:
        Whether the version was still pending (``False``: gc had removed it, or it was marked).
    """
    reason = first_line(exc)
    still_pending = True  # as far as anyone can tell when the database is unreachable
    try:
        with kit.metadata.session() as session:
            marked = session.execute(
                update(ModelVersionRow)
                .where(pending.still_pending())
                .values(status="failed", failure=reason[:2000])
            )
            still_pending = marked.rowcount == 1  # type: ignore[attr-defined]
    except MlopsKitError:
        pass  # the row stays pending; gc removes it after the grace period
    kit.artifacts.delete_quietly(keys)
    return still_pending
