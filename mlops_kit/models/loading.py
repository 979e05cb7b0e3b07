"""Getting a version's artifact back: downloaded and verified, or loaded with its flavour."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from mlops_kit.errors import ConflictError
from mlops_kit.files import path_inside
from mlops_kit.kit import Kit
from mlops_kit.models.flavors import LoadedModel, flavor_named
from mlops_kit.models.lookup import get_version
from mlops_kit.models.names import ModelRef
from mlops_kit.progress import NO_PROGRESS, Progress


def download(
    kit: Kit, ref: ModelRef | str, destination: Path | str, progress: Progress = NO_PROGRESS
) -> Path:
    """Download the artifact of ``ref`` into the directory ``destination``, verifying checksums.

    ``progress`` is told the bytes of each file as it arrives, verified.

    Returns:
        The directory, holding the artifact's files at their recorded paths.

    Raises:
        ConflictError: ``destination`` exists and is not an empty directory.
        IntegrityError: a file is missing or its checksum differs, or a recorded file path leads
            outside ``destination``; the destination is left as it was (removed if created).
    """
    version = get_version(kit, ref)
    target = Path(destination)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConflictError(
            f"download destination {target} exists and is not empty: choose a new directory"
        )
    created = not target.exists()
    objects = version.stored_objects()
    progress.start(f"downloading {version.ref}", total=sum(o.size for o in objects), unit="bytes")
    try:
        for record, stored in zip(version.files, objects, strict=True):
            kit.artifacts.get(stored, path_inside(target, record["path"]))
            progress.advance(stored.size)
    except BaseException:
        # A retry into the same destination must find it as it was: gone, or empty.
        _clean(target, created=created)
        raise
    return target


def _clean(target: Path, *, created: bool) -> None:
    if created:
        shutil.rmtree(target, ignore_errors=True)
    elif target.is_dir():
        for child in target.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def load_model(kit: Kit, ref: ModelRef | str) -> LoadedModel:
    """Download ``ref`` (verified) and load it with its flavour.

    Raises:
        ConfigError: the version has no flavour the kit can load.
        IntegrityError: the artifact is missing or corrupt.
    """
    version = get_version(kit, ref)
    flavor = flavor_named(version.flavor)
    with tempfile.TemporaryDirectory(prefix="mlops-kit-model-") as directory:
        return flavor.load(download(kit, version.ref, Path(directory) / "model"))
