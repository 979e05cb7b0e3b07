"""Garbage collection: stored data that no version references, left by failed or crashed snapshots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from mlops_kit.db.models.data import Dataset, DatasetVersionRow

if TYPE_CHECKING:
    from mlops_kit.kit import Kit

STAGING_GRACE = timedelta(days=1)
"""How old unreferenced data of a dataset without versions, or staged data, must be to be removed."""


def collect_garbage(
    kit: Kit, *, dry_run: bool = False, grace: timedelta = STAGING_GRACE
) -> list[str]:
    """Remove stored data that no version references, and return where it was.

    A snapshot whose metadata transaction fails after publishing leaves data that no manifest
    names (invisible, and reused if the same content is snapshotted again), and a crashed snapshot
    its staged data. All datasets are locked meanwhile, so no snapshot publishes while the
    warehouse is listed; data that a dataset without versions or a staging area holds is removed
    only when older than ``grace``, because a snapshot in flight may own it.

    Raises:
        BackendError: the warehouse failed.
    """
    with kit.metadata.session() as session:
        datasets = session.scalars(select(Dataset).order_by(Dataset.id).with_for_update()).all()
        referenced: dict[str, set[str]] = {dataset.name: set() for dataset in datasets}
        names = {dataset.id: dataset.name for dataset in datasets}
        for dataset_id, storage in session.execute(
            select(DatasetVersionRow.dataset_id, DatasetVersionRow.storage)
        ):
            referenced[names[dataset_id]].add(storage)
        return kit.warehouse.collect_garbage(
            referenced, before=datetime.now(UTC) - grace, dry_run=dry_run
        )
