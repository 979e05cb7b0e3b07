"""The digest a container image's tag points at, asked of its registry (OCI Distribution API v2).

A tag can be moved to another image; a digest names one image for good. :func:`resolve_digest`
asks the image's registry what its tag points at now, the way a container runtime pulls: a
``HEAD`` of the manifest with every manifest type in ``Accept`` (a multi-platform image answers
with its index, whose digest is what a node pulls by), after an anonymous token from the realm of
the registry's ``Bearer`` challenge when the registry answers 401.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    # Imported where a registry is asked: the controls read DIGEST without an HTTP client.
    import httpx

MANIFEST_TYPES: Final = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
DIGEST: Final = re.compile(r"sha256:[0-9a-f]{64}")
"""A manifest digest as registries and Kubernetes write it."""
TIMEOUT_SECONDS: Final = 15.0
_HUB: Final = "docker.io"
_HUB_ENDPOINT: Final = "https://registry-1.docker.io"
# The grammar of distribution/reference: path components of lower-case letters and digits with
# single separators, and a tag of at most 128 word characters, dots and dashes. Nothing else
# (no "..", no "/", no query) reaches a URL.
_COMPONENT: Final = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN: Final = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::[0-9]{1,5})?"
)
_TAG: Final = re.compile(r"\w[\w.-]{0,127}")
_CHALLENGE_FIELD: Final = re.compile(r'(\w+)="([^"]*)"')
_OK, _UNAUTHORIZED, _FORBIDDEN, _NOT_FOUND = 200, 401, 403, 404


def by_digest(reference: str) -> bool:
    """Whether ``reference`` names its image by digest (``NAME@sha256:…``), not by a tag."""
    _name, at, digest = reference.partition("@")
    return bool(at) and DIGEST.fullmatch(digest) is not None


class DigestLookupError(Exception):
    """An image's digest could not be known; the message names the image and the fix."""


@dataclass(frozen=True)
class ImageReference:
    """``REGISTRY/REPOSITORY:TAG``, as a container runtime reads an image reference."""

    registry: str
    repository: str
    tag: str

    @classmethod
    def parse(cls, text: str) -> ImageReference:
        """The parts of ``text``; Docker Hub and ``latest`` where the reference leaves them out.

        Raises:
            DigestLookupError: ``text`` is not an image reference by tag.
        """
        first, _, rest = text.partition("/")
        # As in distribution/reference: the first component names a registry only when it
        # looks like a host (a dot, a port or localhost).
        if rest and ("." in first or ":" in first or first == "localhost"):
            registry, path = first, rest
        else:
            registry, path = _HUB, text
        last = path.rsplit("/", 1)[-1]
        tag = last.partition(":")[2] if ":" in last else "latest"
        repository = path[: len(path) - len(tag) - 1] if ":" in last else path
        if registry == _HUB and "/" not in repository:
            repository = f"library/{repository}"
        if not (
            _DOMAIN.fullmatch(registry)
            and all(_COMPONENT.fullmatch(part) for part in repository.split("/"))
            and _TAG.fullmatch(tag)
        ):
            raise DigestLookupError(
                f"{text}: not an image reference REGISTRY/REPOSITORY:TAG (lower-case path "
                "components, a tag of letters, digits, '_', '.' and '-'); fix the reference"
            )
        return cls(registry, repository, tag)


def resolve_digest(
    reference: str, client: httpx.Client, endpoints: Mapping[str, str] | None = None
) -> str:
    """The ``sha256:`` digest the tag of ``reference`` points at in its registry now.

    Args:
        reference: ``REGISTRY/REPOSITORY:TAG``.
        client: the HTTP client (its timeout bounds each request).
        endpoints: registry host → base URL to ask instead of ``https://HOST`` (a pull-through
            mirror, or a registry on loopback).

    Raises:
        DigestLookupError: the reference is malformed, the registry is unreachable, the tag is
            unknown, or the registry answered something other than a manifest digest.
    """
    import httpx

    image = ImageReference.parse(reference)
    base = (endpoints or {}).get(image.registry) or (
        _HUB_ENDPOINT if image.registry == _HUB else f"https://{image.registry}"
    )
    url = f"{base.rstrip('/')}/v2/{image.repository}/manifests/{image.tag}"
    headers = {"Accept": ", ".join(MANIFEST_TYPES)}
    try:
        response = client.head(url, headers=headers)
        if response.status_code == _UNAUTHORIZED:
            token = _anonymous_token(client, response, image, reference)
            headers["Authorization"] = f"Bearer {token}"
            response = client.head(url, headers=headers)
        _raise_for_status(response, reference, image)
        digest: str | None = response.headers.get("Docker-Content-Digest")
        if digest is None:
            # The header is optional: the digest is then the hash of the manifest's own bytes.
            response = client.get(url, headers=headers)
            _raise_for_status(response, reference, image)
            digest = f"sha256:{hashlib.sha256(response.content).hexdigest()}"
    except httpx.TransportError as exc:
        raise DigestLookupError(
            f"{reference}: registry {image.registry} at {base} is unreachable ({exc or type(exc).__name__}); "
            f"check the network, or map it to a reachable mirror with --registry "
            f"{image.registry}=URL"
        ) from None
    if not DIGEST.fullmatch(digest):
        raise DigestLookupError(
            f"{reference}: {image.registry} answered {digest!r}, not a sha256 digest; "
            "check the registry (or mirror) it was asked at"
        )
    return digest


def _raise_for_status(response: httpx.Response, reference: str, image: ImageReference) -> None:
    status = response.status_code
    if status == _OK:
        return
    if status == _NOT_FOUND:
        raise DigestLookupError(
            f"{reference}: {image.registry} has no manifest for tag {image.tag!r} of "
            f"{image.repository} (HTTP 404); check the tag in the vendored manifests"
        )
    if status in (_UNAUTHORIZED, _FORBIDDEN):
        raise DigestLookupError(
            f"{reference}: {image.registry} refuses an anonymous pull (HTTP {status}); "
            "the image must be public to be locked"
        )
    raise DigestLookupError(
        f"{reference}: {image.registry} answered HTTP {status} for the manifest; retry later"
    )


def _anonymous_token(
    client: httpx.Client, challenge: httpx.Response, image: ImageReference, reference: str
) -> str:
    """The token the challenge's realm hands out without credentials (the registry's pull)."""
    scheme, _, parameters = challenge.headers.get("WWW-Authenticate", "").partition(" ")
    fields = dict(_CHALLENGE_FIELD.findall(parameters))
    realm = fields.pop("realm", "")
    if scheme.lower() != "bearer" or not realm.startswith(("https://", "http://")):
        raise DigestLookupError(
            f"{reference}: the registry asks for {scheme or 'unnamed'} authentication without a "
            "Bearer token realm; only anonymous pulls can be locked"
        )
    # A registry that names no scope gets the one a pull of this repository needs.
    query = {"scope": fields.get("scope", f"repository:{image.repository}:pull")}
    if "service" in fields:
        query["service"] = fields["service"]
    response = client.get(realm, params=query)
    if response.status_code != _OK:
        raise DigestLookupError(
            f"{reference}: the token service {realm} answered HTTP {response.status_code}; the "
            "image must be public to be locked"
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise DigestLookupError(
            f"{reference}: the token service {realm} answered no token; check the registry"
        )
    return token
