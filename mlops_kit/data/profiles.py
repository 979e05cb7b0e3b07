"""Stored profiles: each version's per-column statistics, computed once and kept with its manifest."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeGuard

from mlops_kit import stats
from mlops_kit.data.refs import DatasetRef, as_ref
from mlops_kit.data.versions import DatasetVersion, find_version_row, stored_table
from mlops_kit.db.models.data import DatasetVersionRow
from mlops_kit.progress import NO_PROGRESS, Progress, Stages

if TYPE_CHECKING:
    from mlops_kit.kit import Kit


def profile(kit: Kit, ref: DatasetRef | str, progress: Progress = NO_PROGRESS) -> dict[str, Any]:
    """Per-column statistics of ``ref`` (:func:`mlops_kit.stats.profile`), computed once and stored.

    :func:`~mlops_kit.data.snapshot` stores them with the manifest; a version without them (made
    before snapshots profiled), or with a profile of an earlier
    :data:`~mlops_kit.stats.PROFILE_FORMAT`, is profiled on first request and its profile stored;
    ``progress`` is told the stages of that (checking the stored data, profiling its rows).

    Raises:
        NotFoundError: unknown dataset or version.
        BackendError: the warehouse failed.
    """
    ref = as_ref(ref)
    with kit.metadata.session() as session:
        row = find_version_row(session, ref)
        if _current(row.profile):
            return dict(row.profile)
        version = DatasetVersion.from_row(row, ref.name)
    stages = Stages(progress, 2)
    stages.start(f"checking the stored data of {ref}")
    table = stored_table(kit, version)
    stages.start(f"profiling {version.row_count:,} rows of {ref}")
    result = stats.profile(kit.warehouse, table)
    with kit.metadata.session() as session:
        stored = session.get(DatasetVersionRow, version.id)
        # Another process may have stored it meanwhile: the same statistics, kept as they are.
        if stored is not None and not _current(stored.profile):
            stored.profile = result
    return result


def _current(stored: dict[str, Any] | None) -> TypeGuard[dict[str, Any]]:
    """Whether a stored profile is of the current :data:`~mlops_kit.stats.PROFILE_FORMAT`."""
    return stored is not None and stored.get("format") == stats.PROFILE_FORMAT
