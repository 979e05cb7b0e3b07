"""Snapshots: the transaction that makes data from a file, a query or a table a new version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from mlops_kit import provenance, stats
from mlops_kit.data import sources
from mlops_kit.data.refs import check_dataset_name
from mlops_kit.data.versions import DatasetVersion, ready_versions, verify_stored
from mlops_kit.db.models.data import Dataset, DatasetVersionRow
from mlops_kit.errors import IntegrityError, NotFoundError, shorten
from mlops_kit.progress import NO_PROGRESS, Progress, Stages
from mlops_kit.warehouse.table_refs import TableRef

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mlops_kit.kit import Kit
    from mlops_kit.warehouse import StagedData, StoredVersion


@dataclass(frozen=True)
class VersionDetails:
    """What the manifest of a new version records besides its data.

    Attributes:
        description: free text.
        tags: key/value labels.
        created_by: who creates the version (the CLI passes the login name).
        git_commit: the commit to record; by default that of ``workdir``'s repository, if any.
        workdir: the directory whose git commit is recorded (default: the current directory).
    """

    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    created_by: str = ""
    git_commit: str | None = None
    workdir: Path | None = None

    def commit(self) -> str | None:
        """The git commit to record: :attr:`git_commit`, else that of :attr:`workdir`, if any."""
        return self.git_commit or provenance.git_commit(self.workdir or Path.cwd())


def snapshot(
    kit: Kit,
    name: str,
    *,
    path: Path | str | None = None,
    query: str | None = None,
    table: str | TableRef | None = None,
    details: VersionDetails | None = None,
    force: bool = False,
    progress: Progress = NO_PROGRESS,
) -> DatasetVersion:
    """Create an immutable version of dataset ``name`` from a file, a query or a table.

    The data is staged in the warehouse first and profiled (:func:`mlops_kit.stats.profile`, stored
    with the manifest); then one metadata transaction locks the dataset, allocates the next version
    number, publishes the staged data and records the manifest. Any failure leaves no visible
    version and no manifest.

    Args:
        kit: the environment.
        name: the dataset name (created on first snapshot).
        path: a Parquet, CSV or JSON-lines file.
        query: a SQL query in the warehouse's dialect.
        table: a table in the warehouse: ``[project.]dataset.table`` or ``table`` (in the
            warehouse's dataset), as text or a :class:`~mlops_kit.warehouse.table_refs.TableRef`.
        details: description, tags, author and git commit recorded with the version.
        force: create a new version even when the latest identical content already has one.
        progress: told each stage (reading the source, profiling its rows, publishing).

    Returns:
        The new version, or the existing version with identical content (``created`` False).

    Raises:
        ConfigError: invalid name or source, empty or unreadable data, unsupported column types.
        NotFoundError: the file or table does not exist.
        BackendError: the query, the warehouse or the metadata database failed.
    """
    check_dataset_name(name)
    warehouse = kit.warehouse
    source = sources.source(path, query, table, warehouse.dialect)
    stages = Stages(progress, 3)
    stages.start(f"reading {shorten(source.describe(), 200)}")
    staged = warehouse.stage(name, source)
    try:
        existing = None if force else _same_content(kit, name, staged)
        if existing is not None:
            warehouse.discard(staged)
            return existing
        details = details or VersionDetails()
        return _publish(kit, name, staged, details, force=force, stages=stages)
    except BaseException:
        warehouse.discard(staged)
        raise


def _same_content(kit: Kit, name: str, staged: StagedData) -> DatasetVersion | None:
    with kit.metadata.session() as session:
        dataset = session.scalars(select(Dataset).where(Dataset.name == name)).one_or_none()
        if dataset is None:
            return None
        row = session.scalars(
            ready_versions(dataset.id)
            .where(DatasetVersionRow.fingerprint == staged.fingerprint)
            .order_by(DatasetVersionRow.version.desc())
        ).first()
        if row is None:
            return None
        existing, dataset_id = DatasetVersion.from_row(row, name, created=False), dataset.id
    try:
        verify_stored(kit, existing)
    except (IntegrityError, NotFoundError):
        # The stored copy is damaged or gone: the fresh one of the same content replaces it.
        stored = kit.warehouse.publish(staged, name, existing.version)
        with kit.metadata.session() as session:
            _record_checksum(session, dataset_id, stored)
        existing = replace(existing, checksum=stored.checksum)
    return existing


def _record_checksum(session: Session, dataset_id: int, stored: StoredVersion) -> None:
    """Record ``stored``'s checksum in every version of the dataset stored at its location.

    Versions of the same content share a file: a publish that replaced a damaged one repairs them all.
    """
    session.execute(
        update(DatasetVersionRow)
        .where(
            DatasetVersionRow.dataset_id == dataset_id,
            DatasetVersionRow.storage == stored.location,
        )
        .values(checksum=stored.checksum)
    )


def _publish(
    kit: Kit,
    name: str,
    staged: StagedData,
    details: VersionDetails,
    *,
    force: bool,
    stages: Stages,
) -> DatasetVersion:
    """Profile ``staged``, then make it the next version of ``name`` in one metadata transaction."""
    warehouse = kit.warehouse
    commit = details.commit()
    # Profiled while the staged data is fresh and before the lock: concurrent snapshots of the
    # dataset wait only for the manifest, and no later diff has to read the version to profile it.
    stages.start(f"profiling {staged.row_count:,} rows")
    staged_profile = stats.profile(warehouse, warehouse.table(staged.location))
    stages.start(f"publishing a version of {name}")
    with kit.metadata.session() as session:
        dataset = _locked_dataset(session, name, details.description)
        if not force:
            # A concurrent snapshot of the same content may have won the race for the lock.
            same = session.scalars(
                ready_versions(dataset.id).where(
                    DatasetVersionRow.fingerprint == staged.fingerprint
                )
            ).first()
            if same is not None:
                warehouse.discard(staged)
                return DatasetVersion.from_row(same, name, created=False)
        row = DatasetVersionRow(
            dataset_id=dataset.id,
            version=_next_number(session, dataset.id),
            status="pending",
            fingerprint=staged.fingerprint,
            row_count=staged.row_count,
            schema=staged.schema,
            source=staged.source,
            storage="",
            created_by=details.created_by,
            git_commit=commit,
            description=details.description,
            tags=dict(details.tags),
            profile=staged_profile,
        )
        session.add(row)
        session.flush()
        stored = warehouse.publish(staged, name, row.version)
        row.storage, row.checksum, row.status = stored.location, stored.checksum, "ready"
        session.flush()
        _record_checksum(session, dataset.id, stored)
    return DatasetVersion.from_row(row, name)


def _locked_dataset(session: Session, name: str, description: str) -> Dataset:
    """The dataset row, created if missing, locked until the transaction ends."""
    query = select(Dataset).where(Dataset.name == name).with_for_update()
    dataset = session.scalars(query).one_or_none()
    if dataset is not None:
        return dataset
    try:
        with session.begin_nested():
            session.add(Dataset(name=name, description=description))
    except SqlIntegrityError:
        # Another snapshot created the dataset first: wait for its lock like everyone else.
        pass
    return session.scalars(query).one()


def _next_number(session: Session, dataset_id: int) -> int:
    """The next version number (the dataset is locked: numbers are distinct and without gaps)."""
    highest = session.scalar(
        select(func.max(DatasetVersionRow.version)).where(
            DatasetVersionRow.dataset_id == dataset_id
        )
    )
    return 1 + (highest or 0)
