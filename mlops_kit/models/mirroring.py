"""Copying ready versions to the environment's registry mirror (see :mod:`mlops_kit.mirrors`).

The resource each copy became is recorded as a tag of the version, so the next version of the same
model joins it and ``models show`` tells where the copy is.
"""

from __future__ import annotations

from sqlalchemy import select

from mlops_kit.db.models.registry import ModelTag, ModelVersionRow, RegisteredModel
from mlops_kit.errors import ConfigError
from mlops_kit.kit import Kit
from mlops_kit.mirrors import MirroredVersion, RegistryMirror
from mlops_kit.models.lookup import get_version
from mlops_kit.models.names import ModelRef


def mirror(kit: Kit, ref: ModelRef | str, *, serving_image: str | None = None) -> str:
    """Copy ready version ``ref`` to the environment's registry mirror and tag it with the copy.

    Args:
        kit: an environment that sets ``registry_mirror``.
        ref: the version.
        serving_image: the prediction container (default: the mirror's for the flavour).

    Returns:
        The mirror's resource name of the copy.

    Raises:
        ConfigError: the environment has no registry mirror, or the version cannot be mirrored.
        MissingDependencyError: the mirror's SDK is not installed.
        BackendError: the mirror refused the upload or is unreachable; nothing is recorded.
    """
    registry_mirror = kit.registry_mirror
    if registry_mirror is None:
        raise ConfigError(
            f"environment {kit.environment.name!r} has no registry mirror: set "
            "'registry_mirror: vertex://PROJECT/LOCATION' in its file"
        )
    version = get_version(kit, ref)
    copy = MirroredVersion(
        name=version.name,
        version=version.version,
        artifact_uri=version.artifact_uri,
        flavor=version.flavor,
        datasets=version.datasets,
        labels=kit.environment.labels,
        packages=version.components.get("package", {}),
        previous=_previous_copy(kit, registry_mirror, version.name),
        serving_image=serving_image,
    )
    resource = registry_mirror.mirror(copy)
    with kit.metadata.session() as session:
        version_id = session.scalars(
            select(ModelVersionRow.id)
            .join(RegisteredModel)
            .where(RegisteredModel.name == version.name, ModelVersionRow.version == version.version)
        ).one()
        session.merge(ModelTag(version_id=version_id, key=registry_mirror.tag, value=resource))
    return resource


def _previous_copy(kit: Kit, registry_mirror: RegistryMirror, name: str) -> str | None:
    """The resource the newest mirrored version of ``name`` became, if any."""
    with kit.metadata.session() as session:
        return session.scalars(
            select(ModelTag.value)
            .join(ModelVersionRow, ModelVersionRow.id == ModelTag.version_id)
            .join(RegisteredModel)
            .where(RegisteredModel.name == name, ModelTag.key == registry_mirror.tag)
            .order_by(ModelVersionRow.version.desc())
            .limit(1)
        ).first()
