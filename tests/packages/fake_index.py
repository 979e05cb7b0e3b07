"""A loopback PyPI-compatible repository, as Artifact Registry's Python endpoint behaves.

It takes uploads (the legacy upload API that ``twine`` speaks, with an access token of the twin's
OAuth endpoint as the password of ``oauth2accesstoken``) from the accounts with the writer role,
and serves what it holds through the simple API (PEP 503) for pip and uv.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.cloud_twin.oauth import TokenEndpoint


class FakeIndex(ThreadingHTTPServer):
    """One repository at ``/PROJECT/REPOSITORY/`` of a loopback host; see the module docstring.

    Attributes:
        files: the uploaded files by distribution name (normalized) and file name.
        uploads: the form fields of every accepted upload, in order.
        tokens: the OAuth endpoint whose access tokens the repository accepts.
        writers: the accounts with the writer role on the repository.
    """

    def __init__(
        self, tokens: TokenEndpoint, repository: str = "acme-ml-dev/mlops-dev-kit"
    ) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.repository = repository
        self.tokens = tokens
        self.files: dict[str, dict[str, bytes]] = {}
        self.uploads: list[dict[str, str]] = []
        self.writers: set[str] = set()

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def index(self) -> str:
        """The simple index, as an environment's ``kit_index`` names it."""
        return f"{self.root}/{self.repository}/simple/"

    def add(self, name: str, path: Path) -> None:
        """Serve the file at ``path`` as a release of distribution ``name``."""
        self.files.setdefault(_normalize(name), {})[path.name] = path.read_bytes()


def _normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


class _Handler(BaseHTTPRequestHandler):
    server: FakeIndex

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        prefix = f"/{self.server.repository}/"
        path = self.path.partition("?")[0]
        if not path.startswith(prefix):
            return self._reply(404, b"no such repository")
        rest = path.removeprefix(prefix).strip("/").split("/")
        if rest == ["simple"]:
            links = "".join(f'<a href="{name}/">{name}</a>' for name in sorted(self.server.files))
            return self._reply(200, f"<html><body>{links}</body></html>".encode(), "text/html")
        if len(rest) == 2 and rest[0] == "simple" and rest[1] in self.server.files:
            links = "".join(
                f'<a href="{prefix}files/{name}#sha256={hashlib.sha256(data).hexdigest()}">'
                f"{name}</a>"
                for name, data in sorted(self.server.files[rest[1]].items())
            )
            return self._reply(200, f"<html><body>{links}</body></html>".encode(), "text/html")
        if len(rest) == 2 and rest[0] == "files":
            for files in self.server.files.values():
                if rest[1] in files:
                    return self._reply(200, files[rest[1]], "application/octet-stream")
        return self._reply(404, b"Not Found")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        path = self.path.partition("?")[0]
        if path.strip("/") != self.server.repository:
            return self._reply(404, b"no such repository")
        return self._upload(body)

    def _upload(self, body: bytes) -> None:
        user, _, token = _basic(self.headers.get("Authorization", ""))
        account = self.server.tokens.account_of(token) if user == "oauth2accesstoken" else None
        if account is None:
            return self._reply(401, b"Unauthenticated")
        if account not in self.server.writers:
            return self._reply(403, b"The caller does not have permission")
        fields, content, filename = _form(self.headers["Content-Type"], body)
        if fields.get(":action") != "file_upload" or not filename:
            return self._reply(400, b"Bad Request: not a file upload")
        if hashlib.sha256(content).hexdigest() != fields.get("sha256_digest"):
            return self._reply(400, b"Bad Request: sha256_digest does not match the file")
        files = self.server.files.setdefault(_normalize(fields["name"]), {})
        if filename in files:
            return self._reply(409, b"File already exists")
        files[filename] = content
        self.server.uploads.append(fields)
        return self._reply(200, b"OK")


def _basic(header: str) -> tuple[str, str, str]:
    scheme, _, encoded = header.partition(" ")
    if scheme != "Basic":
        return "", "", ""
    return base64.b64decode(encoded).decode().partition(":")


def _form(content_type: str, body: bytes) -> tuple[dict[str, str], bytes, str]:
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, str] = {}
    content, filename = b"", ""
    for part in message.iter_parts():
        name = str(part.get_param("name", header="content-disposition"))
        payload = part.get_payload(decode=True)
        if name == "content":
            content, filename = payload, str(part.get_filename())
        else:
            fields[name] = payload.decode()
    return fields, content, filename


@contextmanager
def running_index(repository: str = "acme-ml-dev/mlops-dev-kit") -> Iterator[FakeIndex]:
    """A :class:`FakeIndex` and its token endpoint, serving for the duration of the block."""
    tokens = TokenEndpoint().start()
    server = FakeIndex(tokens, repository)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        tokens.stop()
