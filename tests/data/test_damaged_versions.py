"""A damaged stored version is named in one line on load, diff, profile and model comparison, and
repaired by a snapshot."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mlops_kit import data
from mlops_kit.errors import IntegrityError
from mlops_kit.kit import Kit
from tests.data.conftest import CHURN_V1, CHURN_V2, write


def _flip_a_value_byte(path: Path) -> None:
    """Change one byte inside the data pages, leaving a file Parquet still decodes."""
    footer_start = path.stat().st_size - 8 - pq.ParquetFile(path).metadata.serialized_size
    raw = bytearray(path.read_bytes())
    # Flip bytes from the middle of the data pages until the file decodes to other values.
    raw[footer_start // 2] ^= 0x01
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_version_is_named_and_a_snapshot_of_its_content_repairs_it(
    kit, tmp_path: Path, damage: str
) -> None:
    source = write(tmp_path / "churn.parquet", CHURN_V1)
    version = data.snapshot(kit, "churn", path=source)
    stored = kit.warehouse.file(version.storage)
    if damage == "flip":
        _flip_a_value_byte(stored)
    else:
        stored.write_bytes(stored.read_bytes()[: stored.stat().st_size // 2])

    for read in (
        lambda: data.load(kit, "churn@1"),
        lambda: data.diff(kit, "churn@1", source),
        lambda: data.load(kit, "churn@1", as_="ibis"),
    ):
        with pytest.raises(IntegrityError, match=r"^dataset version churn@1 is damaged: .*$"):
            read()

    again = data.snapshot(kit, "churn", path=source)
    assert (again.version, again.created) == (1, False)
    assert data.load(kit, "churn@1").num_rows == 3000
    assert data.diff(kit, "churn@1", source).summary["identical"]


def test_a_version_fingerprinted_before_sha256_keeps_loading_and_its_damage_is_found(
    kit, tmp_path: Path
) -> None:
    # Versions stored before fingerprints were SHA-256 carry DuckDB's hash() fingerprint in their
    # manifest and file name, and no checksum of their file.
    from sqlalchemy import update

    from mlops_kit.db.models.data import DatasetVersionRow
    from mlops_kit.warehouse.duckdb import LEGACY_ROW_HASH

    version = data.snapshot(kit, "churn", path=write(tmp_path / "churn.parquet", CHURN_V1))
    stored = kit.warehouse.file(version.storage)
    legacy = kit.warehouse._fingerprint(stored, version.schema, LEGACY_ROW_HASH)[1]  # type: ignore[attr-defined]
    assert legacy != version.fingerprint
    old_file = stored.replace(stored.with_name(f"{legacy}.parquet"))
    with kit.metadata.session() as session:
        session.execute(
            update(DatasetVersionRow).values(
                fingerprint=legacy, storage=str(old_file), checksum=None
            )
        )
        session.commit()
    fresh = Kit.open(
        "local", warehouse=kit.environment.warehouse, metadata=kit.environment.metadata
    )
    with fresh:
        assert data.load(fresh, "churn@1").num_rows == 3000
        _flip_a_value_byte(old_file)
        with pytest.raises(IntegrityError, match=r"^dataset version churn@1 is damaged: .*$"):
            data.load(fresh, "churn@1")


def _forget_checksums(kit: Kit) -> Kit:
    """Clear every manifest's checksum, as versions recorded before manifests held one; return a
    kit of a fresh process (nothing verified yet)."""
    from sqlalchemy import update

    from mlops_kit.db.models.data import DatasetVersionRow

    with kit.metadata.session() as session:
        session.execute(update(DatasetVersionRow).values(checksum=None))
    return Kit.open("local", warehouse=kit.environment.warehouse, metadata=kit.environment.metadata)


def test_a_version_recorded_without_a_checksum_is_checked_by_its_content_then_records_it(
    kit, tmp_path: Path
) -> None:
    version = data.snapshot(kit, "churn", path=write(tmp_path / "churn.parquet", CHURN_V1))
    stored = kit.warehouse.file(version.storage)
    assert version.checksum == hashlib.sha256(stored.read_bytes()).hexdigest()

    with _forget_checksums(kit) as fresh:
        assert data.load(fresh, "churn@1").num_rows == 3000
        assert data.get_version(fresh, "churn@1").checksum == version.checksum

    _flip_a_value_byte(stored)
    with _forget_checksums(kit) as fresh:
        with pytest.raises(IntegrityError, match=r"^dataset version churn@1 is damaged: .*$"):
            data.load(fresh, "churn@1")
        assert data.get_version(fresh, "churn@1").checksum is None

        # A snapshot of the same content repairs it and records the new file's checksum.
        data.snapshot(fresh, "churn", path=tmp_path / "churn.parquet")
        repaired = data.get_version(fresh, "churn@1")
        assert repaired.checksum == hashlib.sha256(stored.read_bytes()).hexdigest()
        assert data.load(fresh, "churn@1").num_rows == 3000


def test_comparing_models_trained_on_a_damaged_version_names_it(kit, tmp_path: Path) -> None:
    from mlops_kit import models

    version = data.snapshot(kit, "churn", path=write(tmp_path / "churn.parquet", CHURN_V1))
    data.snapshot(kit, "churn", path=write(tmp_path / "churn-2.parquet", CHURN_V2))
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"weights")
    for trained_on in ("churn@1", "churn@2"):
        lineage = models.Lineage(data=[trained_on], packages={})
        models.register(kit, "churn-model", weights, lineage=lineage)
    _flip_a_value_byte(kit.warehouse.file(version.storage))

    # The comparison diffs the two training sets: the damaged one is named, not compared.
    with pytest.raises(IntegrityError, match=r"^dataset version churn@1 is damaged: .*$"):
        models.compare(kit, "churn-model@1", "churn-model@2")
