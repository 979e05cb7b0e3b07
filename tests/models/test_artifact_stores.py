"""Artifact stores: create-only writes, verified reads, listing and deletion, on file:// and gs://."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_kit.artifacts import ARTIFACT_STORES, StoredObject
from mlops_kit.errors import ConfigError, ConflictError, IntegrityError, NotFoundError
from tests.models.conftest import write_bytes


def test_put_get_round_trip_of_a_directory(store_uri: str, tmp_path: Path) -> None:
    store = ARTIFACT_STORES.open(store_uri)
    source = tmp_path / "model"
    write_bytes(source / "model.joblib", 5000, seed=1)
    write_bytes(source / "extra" / "vocab.txt", 10, seed=2)

    stored = store.put(source, "churn/1")

    assert [s.key for s in stored] == ["churn/1/extra/vocab.txt", "churn/1/model.joblib"]
    assert stored[1].size == 5000 and len(stored[1].sha256) == 64 and len(stored[1].md5) == 32
    assert store.exists("churn/1/model.joblib") and not store.exists("churn/2/model.joblib")
    listed = list(store.list_objects("churn/"))
    assert [(o.key, o.size) for o in listed] == [(s.key, s.size) for s in stored]
    assert store.object_uri("churn/1/model.joblib").endswith("/churn/1/model.joblib")
    target = tmp_path / "out" / "model.joblib"
    store.get(stored[1], target)
    assert target.read_bytes() == (source / "model.joblib").read_bytes()
    store.verify(stored[1])
    store.delete("churn/1/model.joblib")
    store.delete("churn/1/model.joblib")  # deleting twice is fine
    assert not store.exists("churn/1/model.joblib")


def test_writing_an_existing_key_is_refused_and_keeps_the_original(
    store_uri: str, tmp_path: Path
) -> None:
    store = ARTIFACT_STORES.open(store_uri)
    (first,) = store.put(write_bytes(tmp_path / "a" / "model.bin", 100, seed=1), "m/1")
    with pytest.raises(ConflictError, match=r"m/1/model\.bin already exists"):
        store.put(write_bytes(tmp_path / "b" / "model.bin", 100, seed=2), "m/1")
    store.get(first, tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == (tmp_path / "a" / "model.bin").read_bytes()


@pytest.mark.gcs
def test_gcs_precondition_refuses_an_overwrite_the_lookup_missed(
    gcs_uri: str, tmp_path: Path
) -> None:
    """The service itself refuses the write (412), not only the kit's lookup before it."""
    store = ARTIFACT_STORES.open(gcs_uri)
    store.put(write_bytes(tmp_path / "a" / "model.bin", 100, seed=1), "m/1")
    store.exists = lambda key: False  # type: ignore[method-assign]  # a writer that raced us
    blob = store.bucket.blob(store.object_name("m/1/model.bin"))  # type: ignore[attr-defined]
    blob.exists = lambda: False
    with pytest.raises(ConflictError, match="already exists"):
        store.put(write_bytes(tmp_path / "b" / "model.bin", 100, seed=2), "m/1")


def _corrupt(store_uri: str, stored: StoredObject, data: bytes) -> None:
    store = ARTIFACT_STORES.open(store_uri)
    if store_uri.startswith("file:"):
        path = store.path_of(stored.key)  # type: ignore[attr-defined]
        path.write_bytes(data)
    else:
        store.bucket.blob(store.object_name(stored.key)).upload_from_string(data)  # type: ignore[attr-defined]


def test_a_checksum_mismatch_on_download_is_a_hard_error(store_uri: str, tmp_path: Path) -> None:
    store = ARTIFACT_STORES.open(store_uri)
    (stored,) = store.put(write_bytes(tmp_path / "src" / "model.bin", 1000, seed=1), "m/1")
    _corrupt(store_uri, stored, b"x" * 1000)  # same size, different bytes
    target = tmp_path / "out" / "model.bin"
    with pytest.raises(IntegrityError, match="checksum mismatch"):
        store.get(stored, target)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no temporary file left behind
    with pytest.raises(IntegrityError, match="differs from its record|checksum mismatch"):
        store.verify(stored)


def test_verify_and_get_report_a_missing_object(store_uri: str, tmp_path: Path) -> None:
    store = ARTIFACT_STORES.open(store_uri)
    (stored,) = store.put(write_bytes(tmp_path / "src" / "model.bin", 10), "m/1")
    store.delete(stored.key)
    with pytest.raises(IntegrityError, match="is missing"):
        store.verify(stored)
    with pytest.raises(NotFoundError, match="does not exist"):
        store.get(stored, tmp_path / "out.bin")


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


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "./a"])
def test_invalid_keys_are_refused(file_uri: str, tmp_path: Path, key: str) -> None:
    store = ARTIFACT_STORES.open(file_uri)
    with pytest.raises(ConfigError, match="invalid artifact key"):
        store.put(write_bytes(tmp_path / "f.bin", 1), key)


def test_missing_and_empty_sources_are_clear_errors(file_uri: str, tmp_path: Path) -> None:
    store = ARTIFACT_STORES.open(file_uri)
    with pytest.raises(NotFoundError, match="does not exist"):
        store.put(tmp_path / "nope", "m/1")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="is empty"):
        store.put(tmp_path / "empty", "m/1")
    assert list(store.list_objects()) == []
