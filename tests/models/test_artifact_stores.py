"""Cloud Storage behaviour beyond the artifact-store contract (``tests/contracts``).

The service itself enforces create-only writes, and large files go up resumably.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_kit.artifacts import ARTIFACT_STORES
from mlops_kit.errors import ConflictError
from tests.models.conftest import write_bytes


@pytest.mark.gcs
def test_gcs_precondition_refuses_an_overwrite_the_lookup_missed(
    gcs_uri: str, tmp_path: Path
) -> None:
    """The service itself refuses the write (412), not only the kit's lookup before it."""
    store = ARTIFACT_STORES.open(gcs_uri)
    store.put(write_bytes(tmp_path / "a" / "model.bin", 100, seed=1), "m/1")
    store._exists = lambda key: False  # type: ignore[method-assign]  # a writer that raced us
    with pytest.raises(ConflictError, match="already exists"):
        store.put(write_bytes(tmp_path / "b" / "model.bin", 100, seed=2), "m/1")


@pytest.mark.gcs
def test_large_files_go_up_resumably_and_verify(
    gcs_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.cloud.storage import Blob

    from mlops_kit.artifacts.gcs import RESUMABLE_THRESHOLD

    resumable_uploads: list[int] = []
    real_upload = Blob._do_resumable_upload

    def spy(self: Blob, *args: object, **kwargs: object) -> object:
        resumable_uploads.append(self.chunk_size)
        return real_upload(self, *args, **kwargs)

    monkeypatch.setattr(Blob, "_do_resumable_upload", spy)
    store = ARTIFACT_STORES.open(gcs_uri)
    store.put(write_bytes(tmp_path / "small.bin", 1024, seed=4), "small/1")
    assert resumable_uploads == []
    source = write_bytes(tmp_path / "big.bin", RESUMABLE_THRESHOLD + 1024, seed=3)
    (stored,) = store.put(source, "big/1")
    assert resumable_uploads == [8 * 1024 * 1024]
    store.verify(stored)
    store.get(stored, tmp_path / "back.bin")
    assert (tmp_path / "back.bin").stat().st_size == stored.size
