"""A container registry on loopback: the manifest endpoints of the OCI Distribution API v2.

It answers as ghcr.io, gcr.io and quay.io do to an anonymous pull: a manifest request without a
token gets 401 with a ``Bearer`` challenge whose realm is this server's token endpoint; the token
endpoint hands out a token for the challenged scope; a ``HEAD`` or ``GET`` of
``/v2/<name>/manifests/<tag>`` with that token answers the image's index with its
``Docker-Content-Digest``, 404 ``MANIFEST_UNKNOWN`` for an unknown tag, and 400 ``NAME_INVALID``
for a name or tag outside the reference grammar.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.cloud_twin.http import LoopbackServer

INDEX = "application/vnd.oci.image.index.v1+json"
SERVICE = "registry.loopback"
_NAME = re.compile(
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)
_TAG = re.compile(r"\w[\w.-]{0,127}")
_MANIFEST_PATH = re.compile(r"/v2/(?P<name>.+)/manifests/(?P<reference>[^/]+)")


def index_of(repository: str, tag: str) -> bytes:
    """The (made-up, deterministic) image index the fake serves for ``repository:tag``."""
    platform = hashlib.sha256(f"{repository}:{tag}/linux/amd64".encode()).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": INDEX,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": f"sha256:{platform}",
                    "size": 1024,
                    "platform": {"architecture": "amd64", "os": "linux"},
                }
            ],
        },
        sort_keys=True,
    ).encode()


def digest_of(repository: str, tag: str) -> str:
    """The digest the fake answers for ``repository:tag``: the hash of its index."""
    return f"sha256:{hashlib.sha256(index_of(repository, tag)).hexdigest()}"


class _RegistryHandler(BaseHTTPRequestHandler):
    server: FakeRegistry
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        status, headers, body = self.server.answer(
            self.command, self.path, {name.lower(): value for name, value in self.headers.items()}
        )
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = _answer

    def log_message(self, *args: Any) -> None:
        pass


class FakeRegistry(LoopbackServer):
    """Serves the image indexes of ``images`` (``repository`` → tags) to anonymous pulls."""

    handler = _RegistryHandler

    def __init__(self, images: dict[str, set[str]], *, digest_header: bool = True) -> None:
        super().__init__(lambda *_: (404, None))
        self.images = images
        self.digest_header = digest_header
        """Whether manifests carry ``Docker-Content-Digest`` (the API makes it optional)."""
        self.requests: list[tuple[str, str]] = []
        self._tokens: dict[str, str] = {}

    def answer(
        self, method: str, target: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        """The status, headers and body of one request (``headers`` with lower-case names)."""
        self.requests.append((method, target))
        url = urlsplit(target)
        if url.path == "/token":
            scope = parse_qs(url.query).get("scope", [""])[0]
            token = self._tokens.setdefault(scope, secrets.token_hex(16))
            return _json(200, {"token": token})
        match = _MANIFEST_PATH.fullmatch(url.path)
        if match is None:
            return _json(404, _errors("NOT_FOUND", "no such endpoint"))
        name, tag = match["name"], match["reference"]
        if not _NAME.fullmatch(name) or not _TAG.fullmatch(tag):
            return _json(400, _errors("NAME_INVALID", f"invalid repository name or tag {target}"))
        scope = f"repository:{name}:pull"
        if headers.get("authorization") != f"Bearer {self._tokens.get(scope)}":
            challenge = f'Bearer realm="{self.url}/token",service="{SERVICE}",scope="{scope}"'
            status, reply_headers, body = _json(
                401, _errors("UNAUTHORIZED", "authentication required")
            )
            return status, {**reply_headers, "WWW-Authenticate": challenge}, body
        if tag not in self.images.get(name, set()) or INDEX not in headers.get("accept", ""):
            return _json(404, _errors("MANIFEST_UNKNOWN", f"manifest unknown: {name}:{tag}"))
        body = index_of(name, tag)
        reply = {"Content-Type": INDEX}
        if self.digest_header:
            reply["Docker-Content-Digest"] = digest_of(name, tag)
        return 200, reply, body


def _errors(code: str, message: str) -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message}]}


def _json(status: int, payload: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()
