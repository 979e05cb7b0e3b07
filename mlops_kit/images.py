"""Container images named by digest.

A digest names one image for good; a tag can be moved to another image after it was tested,
attested or approved.
"""

from __future__ import annotations

import re
from typing import Final

from mlops_kit.errors import ConfigError, shorten

_DIGEST: Final = re.compile(r"^sha256:[0-9a-f]{64}$")


def check_digest(digest: str) -> str:
    """``digest`` if it is an image digest: ``sha256:`` and 64 lower-case hex digits.

    Raises:
        ConfigError: it is not.
    """
    if not _DIGEST.match(digest):
        raise ConfigError(
            f"invalid image digest {digest!r}: write sha256: and 64 lower-case hex digits, as "
            "the image build reports it"
        )
    return digest


def image_by_digest(image: str, digest: str) -> str:
    """``image`` (a repository path, with or without tag or digest) named by ``digest``.

    Raises:
        ConfigError: ``digest`` is not ``sha256:`` and 64 lower-case hex digits.
    """
    check_digest(digest)
    repository = image.partition("@")[0]
    path, _, last = repository.rpartition("/")
    name = last.partition(":")[0]
    return f"{path}/{name}@{digest}" if path else f"{name}@{digest}"


def pinned_image(image: str) -> str:
    """``image`` if it names its digest (``REPOSITORY@sha256:<64 hex>``): what a deployment runs.

    Raises:
        ConfigError: it names a tag or nothing, or the digest is malformed.
    """
    repository, at, digest = image.partition("@")
    if not at or not repository or not _DIGEST.match(digest) or any(c.isspace() for c in image):
        raise ConfigError(
            f"serving image {shorten(image)!r} is not named by digest: give "
            "REPOSITORY@sha256:<64 hex digits> (`docker inspect --format "
            "'{{index .RepoDigests 0}}' IMAGE`)"
        )
    return image
