"""Dataset versions: the manifest of each immutable version, and reading manifests back."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update

from mlops_kit.data.refs import DatasetRef, as_ref, check_dataset_name
from mlops_kit.db.models.data import Dataset, DatasetVersionRow
from mlops_kit.errors import NotFoundError

if TYPE_CHECKING:
    import ibis
    from sqlalchemy.orm import Session

    from mlops_kit.kit import Kit

# Not columns of a version's row: the name is the dataset's, ``created`` what a snapshot did.
_NOT_STORED = ("name", "created")


@dataclass(frozen=True)
class DatasetVersion:
    """The manifest of one immutable dataset version.

    Attributes:
        id: the manifest's primary key (what lineage records reference).
        name: the dataset name.
        version: the version number (1, 2, ... per dataset, without gaps).
        fingerprint: digest of the schema and the multiset of rows.
        row_count: number of rows.
        schema: ``[{"name", "type"}]`` with ibis type names.
        source: where the data came from (``file:…``, ``query:…``, ``table:…``).
        storage: where the version is stored in the warehouse.
        checksum: SHA-256 of the stored file, checked before the version is read; ``None`` in a
            warehouse that stores no files, and for a version recorded before manifests held it
            (until its content verifies).
        created_by: who created it.
        created_at: when (UTC).
        git_commit: the commit of the working directory's repository, if any.
        description: free text.
        tags: free key/value labels.
        created: False when :func:`~mlops_kit.data.snapshot` found identical content and returned
            this version.
    """

    id: int
    name: str
    version: int
    fingerprint: str
    row_count: int
    schema: list[dict[str, str]]
    source: str
    storage: str
    checksum: str | None
    created_by: str
    created_at: datetime
    git_commit: str | None
    description: str
    tags: dict[str, str]
    created: bool = True

    @property
    def ref(self) -> str:
        """``NAME@V``."""
        return f"{self.name}@{self.version}"

    @classmethod
    def from_row(cls, row: DatasetVersionRow, name: str, *, created: bool = True) -> DatasetVersion:
        """The manifest stored in ``row`` of dataset ``name``."""
        # Every other field is the row's column of the same name; mutable ones are copied.
        stored = {f.name: getattr(row, f.name) for f in fields(cls) if f.name not in _NOT_STORED}
        stored |= {"schema": list(row.schema), "tags": dict(row.tags)}
        return cls(name=name, created=created, **stored)

    def to_json(self) -> dict[str, Any]:
        """The manifest as JSON-able data."""
        manifest = asdict(self)
        # Whether this call created the version says nothing about the version itself.
        del manifest["created"]
        return (
            {"id": self.id, "ref": self.ref}
            | manifest
            | {"created_at": self.created_at.isoformat()}
        )


def ready_versions(dataset_id: int) -> Any:
    """The query of the published versions of a dataset (failed snapshots leave none)."""
    return select(DatasetVersionRow).where(
        DatasetVersionRow.dataset_id == dataset_id, DatasetVersionRow.status == "ready"
    )


def find_dataset(session: Session, name: str) -> Dataset:
    """The dataset ``name``.

    Raises:
        NotFoundError: unknown dataset (the message lists known ones).
    """
    dataset = session.scalars(select(Dataset).where(Dataset.name == name)).one_or_none()
    if dataset is None:
        known = session.scalars(select(Dataset.name).order_by(Dataset.name).limit(20)).all()
        raise NotFoundError(
            f"unknown dataset {name!r}: known datasets are {', '.join(known) or 'none yet'} "
            "(create one with `mlops-kit data snapshot NAME --from PATH`)"
        )
    return dataset


def find_version_row(session: Session, ref: DatasetRef) -> DatasetVersionRow:
    """The stored manifest of ``ref``.

    Raises:
        NotFoundError: unknown dataset or version.
    """
    dataset = find_dataset(session, ref.name)
    query = ready_versions(dataset.id)
    if ref.version is None:
        row = session.scalars(query.order_by(DatasetVersionRow.version.desc())).first()
        if row is None:
            raise NotFoundError(f"dataset {ref.name!r} has no versions yet: snapshot it first")
        return row  # type: ignore[no-any-return]
    row = session.scalars(query.where(DatasetVersionRow.version == ref.version)).one_or_none()
    if row is None:
        latest = session.scalar(
            select(func.max(DatasetVersionRow.version)).where(
                DatasetVersionRow.dataset_id == dataset.id, DatasetVersionRow.status == "ready"
            )
        )
        raise NotFoundError(
            f"dataset {ref.name!r} has no version {ref.version}: "
            f"versions are 1 to {latest} (see `mlops-kit data versions {ref.name}`)"
        )
    return row  # type: ignore[no-any-return]


def get_version(kit: Kit, ref: DatasetRef | str) -> DatasetVersion:
    """The manifest of ``ref`` (``NAME@V``, ``NAME@latest`` or ``NAME``).

    Raises:
        ConfigError: the reference is malformed.
        NotFoundError: unknown dataset or version.
    """
    ref = as_ref(ref)
    with kit.metadata.session() as session:
        return DatasetVersion.from_row(find_version_row(session, ref), ref.name)


def stored_table(kit: Kit, version: DatasetVersion) -> ibis.Table:
    """The relation of ``version``'s stored data, checked against its manifest first.

    Raises:
        NotFoundError: the stored data is missing.
        IntegrityError: it is damaged (one line naming the version).
    """
    verify_stored(kit, version)
    return kit.warehouse.table(version.storage)


def verify_stored(kit: Kit, version: DatasetVersion) -> None:
    """Check ``version``'s stored data against its manifest (:meth:`Warehouse.verify`).

    A version recorded before manifests held the checksum of its stored file is checked by its
    content; once that passes, its manifest records the checksum so later checks only hash the file.

    Raises:
        NotFoundError: the stored data is missing.
        IntegrityError: it is damaged (one line naming the version).
    """
    found = kit.warehouse.verify(
        version.storage, version.fingerprint, version.checksum, f"dataset version {version.ref}"
    )
    if found is not None:
        with kit.metadata.session() as session:
            session.execute(
                update(DatasetVersionRow)
                .where(DatasetVersionRow.id == version.id, DatasetVersionRow.checksum.is_(None))
                .values(checksum=found)
            )


def list_versions(kit: Kit, name: str) -> list[DatasetVersion]:
    """Every version of dataset ``name``, oldest first.

    Raises:
        NotFoundError: unknown dataset.
    """
    check_dataset_name(name)
    with kit.metadata.session() as session:
        dataset = find_dataset(session, name)
        rows = session.scalars(ready_versions(dataset.id).order_by(DatasetVersionRow.version))
        return [DatasetVersion.from_row(row, name) for row in rows]
