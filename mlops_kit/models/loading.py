"""Getting a version's artifact back: downloaded and verified, or loaded with its flavour."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mlops_kit.errors import ConflictError
from mlops_kit.kit import Kit
from mlops_kit.models.flavors import LoadedModel, flavor_named
from mlops_kit.models.lookup import get_version
from mlops_kit.models.names import ModelRef


def download(kit: Kit, ref: ModelRef | str, destination: Path | str) -> Path:
    """Download the artifact of ``ref`` into the directory ``destination``, verifying checksums.

    Returns:
        The directory, holding the artifact's files at their recorded paths.

    Raises:
        ConflictError: ``destination`` exists and is not an empty directory.
        IntegrityError: a file is missing or its checksum differs (nothing corrupt is left behind).
    """
    version = get_version(kit, ref)
    target = Path(destination)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConflictError(
            f"download destination {target} exists and is not empty: choose a new directory"
        )
    for record, stored in zip(version.files, version.stored_objects(), strict=True):
        kit.artifacts.get(stored, target / record["path"])
    return target


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
