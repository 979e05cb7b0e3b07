"""Stored file paths never lead outside a download's destination; registering never leaves its folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from mlops_kit import models
from mlops_kit.db.models.registry import ModelFile
from mlops_kit.errors import ConfigError, ConflictError, IntegrityError
from tests.models.conftest import write_bytes


@pytest.mark.parametrize(
    "stored_path", ["../escaped.bin", "/tmp/escaped-{tmp}.bin", "a/../../escaped.bin"]
)
def test_a_stored_path_leading_outside_the_destination_is_refused(
    kit: Any, tmp_path: Path, stored_path: str
) -> None:
    source = tmp_path / "model"
    write_bytes(source / "weights.bin", 64, seed=1)
    write_bytes(source / "z.bin", 64, seed=2)
    models.register(kit, "ranker", source)
    stored_path = stored_path.replace("{tmp}", tmp_path.name)
    with kit.metadata.session() as session:
        session.execute(update(ModelFile).where(ModelFile.path == "z.bin").values(path=stored_path))

    destination = tmp_path / "downloads" / "out"
    with pytest.raises(IntegrityError, match="leads outside"):
        models.download(kit, "ranker@1", destination)
    assert not (tmp_path / "downloads" / "escaped.bin").exists()
    assert not Path(stored_path).is_absolute() or not Path(stored_path).exists()
    # The failed download left nothing behind: a retry into the same destination is possible.
    assert not destination.exists()


def test_a_link_in_the_destination_leading_outside_it_is_never_written_through(
    kit: Any, tmp_path: Path
) -> None:
    source = tmp_path / "model"
    write_bytes(source / "sub" / "weights.bin", 64, seed=1)
    models.register(kit, "ranker", source)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    destination = tmp_path / "out"
    destination.mkdir()
    os.symlink(elsewhere, destination / "sub")

    # Only a new or empty folder receives a download, so no link can be waiting inside it.
    with pytest.raises(ConflictError, match="exists and is not empty"):
        models.download(kit, "ranker@1", destination)
    assert list(elsewhere.iterdir()) == []


def test_a_failed_download_into_an_empty_folder_leaves_it_empty(kit: Any, tmp_path: Path) -> None:
    source = tmp_path / "model"
    write_bytes(source / "a.bin", 64, seed=1)
    version = models.register(kit, "ranker", source)
    write_bytes(source / "b.bin", 64, seed=2)
    kit.artifacts.path_of(version.files[0]["key"]).write_bytes(b"\0" * 64)
    destination = tmp_path / "empty"
    destination.mkdir()
    with pytest.raises(IntegrityError):
        models.download(kit, "ranker@1", destination)
    assert destination.is_dir() and list(destination.iterdir()) == []


def test_registering_a_folder_does_not_follow_links_out_of_it(kit: Any, tmp_path: Path) -> None:
    secret = write_bytes(tmp_path / "elsewhere" / "secret.txt", 16, seed=3)
    source = tmp_path / "model"
    write_bytes(source / "weights.bin", 64, seed=1)
    os.symlink(secret, source / "linked.txt")
    with pytest.raises(ConfigError, match="symbolic link leading outside"):
        models.register(kit, "ranker", source)
    (source / "linked.txt").unlink()
    os.symlink(secret.parent, source / "linked-folder")
    with pytest.raises(ConfigError, match="symbolic link leading outside"):
        models.register(kit, "ranker", source)
    (source / "linked-folder").unlink()
    os.symlink(source / "weights.bin", source / "alias.bin")
    version = models.register(kit, "ranker", source)
    assert sorted(record["path"] for record in version.files) == ["alias.bin", "weights.bin"]


def test_promote_needs_a_version_and_an_intact_artifact(kit: Any, tmp_path: Path) -> None:
    source = tmp_path / "model"
    write_bytes(source / "weights.bin", 64, seed=1)
    version = models.register(kit, "ranker", source)
    with pytest.raises(ConfigError, match="give ranker@VERSION"):
        models.promote(kit, "ranker", "production", "newest")
    kit.artifacts.path_of(version.files[0]["key"]).write_bytes(b"\0" * 64)
    with pytest.raises(IntegrityError):
        models.promote(kit, "ranker@1", "production", "release")
    assert models.history(kit, "ranker") == []


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--param", "lr=0.1", "--param", "lr=0.2"], "--param 'lr' is given twice"),
        (["--image-digest", "sha256:abc"], "is not an image digest"),
        (["--image-digest", "trainer:latest"], "is not an image digest"),
    ],
)
def test_register_refuses_ambiguous_lineage(
    local_kit: Any, tmp_path: Path, run_cli: Any, args: list[str], said: str
) -> None:
    write_bytes(tmp_path / "model" / "weights.bin", 64, seed=1)
    result = run_cli("models", "register", "ranker", str(tmp_path / "model"), *args)
    assert result.exit_code == 2 and said in result.stderr, result.stderr
    assert run_cli("models", "versions", "ranker").exit_code == 3
