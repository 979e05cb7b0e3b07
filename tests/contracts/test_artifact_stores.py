"""The artifact-store contract, through the public interface only, on every offline store.

A new store runs it by adding its scheme to ``OFFLINE`` and a parameter to ``artifacts_uri``
(``tests/contracts/conftest.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_kit.artifacts import ARTIFACT_STORES, ArtifactStore, StoredObject
from mlops_kit.errors import ConfigError, ConflictError, IntegrityError, NotFoundError
from tests.models.conftest import write_bytes


def _replace(store: ArtifactStore, stored: StoredObject, data: Path) -> None:
    """Put other bytes under ``stored.key``, as a corruption of the stored object would."""
    store.delete(stored.key)
    store.write(data, stored.key)


def test_put_get_round_trip_of_a_directory(artifacts_uri: str, tmp_path: Path) -> None:
    store = ARTIFACT_STORES.open(artifacts_uri)
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


def test_stores_opened_on_the_same_uri_share_their_objects(
    artifacts_uri: str, tmp_path: Path
) -> None:
    writer, reader = ARTIFACT_STORES.open(artifacts_uri), ARTIFACT_STORES.open(artifacts_uri)
    (stored,) = writer.put(write_bytes(tmp_path / "src" / "model.bin", 300, seed=5), "m/1")

    assert reader.exists("m/1/model.bin")
    assert [o.key for o in reader.list_objects()] == ["m/1/model.bin"]
    reader.verify(stored)
    reader.get(stored, tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == (tmp_path / "src" / "model.bin").read_bytes()
    reader.delete(stored.key)
    assert not writer.exists(stored.key)


def test_writing_an_existing_key_is_refused_and_keeps_the_original(
    artifacts_uri: str, tmp_path: Path
) -> None:
    store = ARTIFACT_STORES.open(artifacts_uri)
    (first,) = store.put(write_bytes(tmp_path / "a" / "model.bin", 100, seed=1), "m/1")
    with pytest.raises(ConflictError, match=r"m/1/model\.bin already exists"):
        store.put(write_bytes(tmp_path / "b" / "model.bin", 100, seed=2), "m/1")
    store.get(first, tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == (tmp_path / "a" / "model.bin").read_bytes()


def test_a_failed_put_removes_what_it_wrote_and_keeps_what_was_there(
    artifacts_uri: str, tmp_path: Path
) -> None:
    store = ARTIFACT_STORES.open(artifacts_uri)
    store.put(write_bytes(tmp_path / "old" / "b.bin", 10, seed=1), "m/1")
    source = tmp_path / "new"
    write_bytes(source / "a.bin", 10, seed=2)
    write_bytes(source / "b.bin", 10, seed=3)

    with pytest.raises(ConflictError):
        store.put(source, "m/1")  # a.bin is written, then b.bin conflicts

    assert [o.key for o in store.list_objects()] == ["m/1/b.bin"]


def test_a_checksum_mismatch_on_download_is_a_hard_error(
    artifacts_uri: str, tmp_path: Path
) -> None:
    store = ARTIFACT_STORES.open(artifacts_uri)
    (stored,) = store.put(write_bytes(tmp_path / "src" / "model.bin", 1000, seed=1), "m/1")
    _replace(store, stored, write_bytes(tmp_path / "other.bin", 1000, seed=9))  # same size
    target = tmp_path / "out" / "model.bin"
    with pytest.raises(IntegrityError, match="checksum mismatch"):
        store.get(stored, target)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no temporary file left behind
    with pytest.raises(IntegrityError, match="differs from its record|checksum mismatch"):
        store.verify(stored)


def test_verify_and_get_report_a_missing_object(artifacts_uri: str, tmp_path: Path) -> None:
    store = ARTIFACT_STORES.open(artifacts_uri)
    (stored,) = store.put(write_bytes(tmp_path / "src" / "model.bin", 10), "m/1")
    store.delete(stored.key)
    with pytest.raises(IntegrityError, match="is missing"):
        store.verify(stored)
    with pytest.raises(NotFoundError, match="does not exist"):
        store.get(stored, tmp_path / "out.bin")


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "./a"])
def test_invalid_keys_are_refused(artifacts_uri: str, tmp_path: Path, key: str) -> None:
    store = ARTIFACT_STORES.open(artifacts_uri)
    with pytest.raises(ConfigError, match="invalid artifact key"):
        store.put(write_bytes(tmp_path / "f.bin", 1), key)
    assert list(store.list_objects()) == []


def test_missing_and_empty_sources_are_clear_errors(artifacts_uri: str, tmp_path: Path) -> None:
    store = ARTIFACT_STORES.open(artifacts_uri)
    with pytest.raises(NotFoundError, match="does not exist"):
        store.put(tmp_path / "nope", "m/1")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="is empty"):
        store.put(tmp_path / "empty", "m/1")
    assert list(store.list_objects()) == []


def test_check_says_what_it_checked(artifacts_uri: str) -> None:
    line = ARTIFACT_STORES.open(artifacts_uri).check()
    assert line and "\n" not in line
