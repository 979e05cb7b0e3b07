"""Data versions stored as files record their location relative to the warehouse folder.

A DuckDB warehouse recorded ``/abs/path/datasets/NAME/FINGERPRINT.parquet``: a copied project then
read the original's files, and a moved one none. The upgrade keeps ``datasets/NAME/FINGERPRINT.parquet``
(the part below the warehouse folder, which the warehouse joins to its own folder). The downgrade
needs that folder to write absolute paths again: :func:`mlops_kit.db.migrate.downgrade` passes the
environment's warehouse URI.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from alembic import context, op

from mlops_kit.errors import ConfigError

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_VERSIONS = sa.table("dataset_versions", sa.column("id", sa.Integer), sa.column("storage", sa.Text))
_FOLDER = "datasets"
"""The DuckDB warehouse's folder of versions, below the warehouse folder."""


def _rewrite(new_location: dict[int, str]) -> None:
    for row_id, location in new_location.items():
        op.execute(_VERSIONS.update().where(_VERSIONS.c.id == row_id).values(storage=location))


def _stored() -> list[tuple[int, str]]:
    return [(row.id, row.storage) for row in op.get_bind().execute(sa.select(_VERSIONS))]


def upgrade() -> None:
    relative = {}
    for row_id, location in _stored():
        parts = PurePosixPath(location).parts
        # Only a DuckDB version file; BigQuery locations (PROJECT.DATASET.TABLE#V) stay.
        if location.startswith("/") and len(parts) > 3 and parts[-3] == _FOLDER:
            relative[row_id] = PurePosixPath(*parts[-3:]).as_posix()
    _rewrite(relative)


def downgrade() -> None:
    relative = {
        row_id: location for row_id, location in _stored() if location.startswith(f"{_FOLDER}/")
    }
    if not relative:
        return
    uri = context.config.attributes.get("warehouse")
    parts = urlsplit(uri or "")
    if parts.scheme != "duckdb" or not parts.path:
        raise ConfigError(
            f"{len(relative)} data version(s) record their location relative to a DuckDB "
            "warehouse folder: downgrade with the environment whose warehouse holds them "
            "(`mlops-kit db downgrade` does), so that the absolute paths can be written back"
        )
    root = Path(unquote(parts.path)).parent
    _rewrite({row_id: str(root / location) for row_id, location in relative.items()})
