"""The training environment recorded with a version: the kit, Python and package versions."""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import re
from collections.abc import Mapping

from mlops_kit import __version__
from mlops_kit.errors import ConfigError, shorten
from mlops_kit.images import is_digest_reference


@functools.cache
def installed_packages() -> dict[str, str]:
    """Name → version of every distribution installed in this Python environment.

    Read once per process: parsing every distribution's metadata takes about half a second.
    """
    packages: dict[str, str] = {}
    for distribution in importlib.metadata.distributions():
        name = distribution.metadata["Name"]
        if name:
            packages[re.sub(r"[-_.]+", "-", name).lower()] = distribution.version
    return dict(sorted(packages.items()))


def component_versions(
    packages: Mapping[str, str] | None, image_digest: str | None
) -> dict[str, dict[str, str]]:
    """The component versions recorded with a version (see :class:`ModelVersion.components`).

    Raises:
        ConfigError: ``image_digest`` is not a content digest (``[IMAGE@]sha256:<64 hex>``): a
            tag such as ``:latest`` names no fixed image.
    """
    if image_digest and not is_digest_reference(image_digest):
        raise ConfigError(
            f"--image-digest {shorten(image_digest)!r} is not an image digest: give "
            "sha256:<64 hex digits> or IMAGE@sha256:<64 hex digits> (`docker inspect "
            "--format '{{index .RepoDigests 0}}' IMAGE`)"
        )
    components = {
        "kit": {"mlops-kit": __version__},
        "python": {"python": platform.python_version()},
        "package": dict(installed_packages() if packages is None else packages),
    }
    if image_digest:
        components["image"] = {"image": image_digest}
    return components
