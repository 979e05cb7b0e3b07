"""Cloud SQL for PostgreSQL on loopback, for the real Cloud SQL Python Connector and pg8000.

Two parts stand in for Google's, and the real PostgreSQL of this machine stands behind them:

- **the SQL Admin API** (``sqladmin_api_endpoint``): ``connectSettings`` answers the instance's
  region, database version, a private IP on loopback and the CA of a throwaway certificate
  authority made with ``cryptography``; ``generateEphemeralCert`` checks the caller's bearer token
  and, for IAM database authentication, the login token in the body (both must come from the
  twin's token endpoint), then signs the connector's public key with the CA, the IAM user the token
  belongs to as the certificate's common name;
- **the server-side proxy** on port 3307 of that IP (the connector always dials 3307): TLS 1.3
  with a server certificate of the CA, a client certificate of the CA required; it reads the
  PostgreSQL startup message, refuses a user other than the certificate's (as Cloud SQL refuses a
  login the IAM token does not back, with an ``ErrorResponse``), then opens the real PostgreSQL as
  the role named like the IAM user and relays bytes both ways.

Each pytest-xdist worker takes its own loopback address 127.0.0.N (from ``PYTEST_XDIST_WORKER``),
as two processes cannot both listen on port 3307 of one address.
"""

from __future__ import annotations

import json
import os
import select
import socket
import ssl
import struct
import tempfile
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.cloud_twin.http import LoopbackServer, Reply, error
from tests.cloud_twin.oauth import TokenEndpoint
from tests.cloud_twin.tls import CertificateAuthority

PROXY_PORT = 3307
"""The port the connector dials on the instance's IP."""
_PROTOCOL_3 = 196608
_SSL_REQUEST = 80877103
_CANCEL_REQUEST = 80877102


def loopback_address(worker: str | None = None) -> str:
    """The first 127.0.0.N whose port 3307 is free, starting from one per xdist worker."""
    worker = worker if worker is not None else os.environ.get("PYTEST_XDIST_WORKER", "")
    start = 10 + 10 * int(worker.removeprefix("gw")) if worker.startswith("gw") else 2
    for last in range(start, min(start + 10, 255)):
        address = f"127.0.0.{last}"
        with socket.socket() as probe:
            try:
                probe.bind((address, PROXY_PORT))
            except OSError:
                continue
            return address
    raise OSError(f"no free port {PROXY_PORT} on 127.0.0.{start}-{start + 9}")


class FakeCloudSql:
    """One Cloud SQL for PostgreSQL instance whose data lives in the real PostgreSQL."""

    def __init__(
        self,
        tokens: TokenEndpoint,
        *,
        connection_name: str,
        postgres_url: str,
        address: str | None = None,
    ) -> None:
        self.tokens = tokens
        self.project, self.region, self.instance = connection_name.split(":")
        self.connection_name = connection_name
        target = urlsplit(postgres_url)
        self.postgres = (target.hostname or "127.0.0.1", target.port or 5432)
        self.address = address or loopback_address()
        self.ca = CertificateAuthority()
        self.requests: list[tuple[str, str, Any]] = []
        self.refused: list[str] = []
        """Why each refused login was refused, in order."""
        self.api = LoopbackServer(self.route)
        self._directory = tempfile.TemporaryDirectory(prefix="cloudsql-twin-")
        cert_file, key_file = self.ca.server_files(
            Path(self._directory.name), ip_address=self.address
        )
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_3
        self.context.load_cert_chain(cert_file, key_file)
        self.context.load_verify_locations(cadata=self.ca.pem)
        self.context.verify_mode = ssl.CERT_REQUIRED
        self._listener = socket.create_server((self.address, PROXY_PORT))
        self._stopping = threading.Event()

    @property
    def admin_endpoint(self) -> str:
        """The SQL Admin API base URL (the connector's ``sqladmin_api_endpoint``)."""
        return self.api.url

    def start(self) -> FakeCloudSql:
        """Serve the Admin API and accept connections on ``ADDRESS:3307``."""
        self.api.start()
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop both servers."""
        self._stopping.set()
        self.api.stop()
        self._listener.close()
        self._directory.cleanup()

    # -- SQL Admin API --------------------------------------------------------------------------

    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        """Answer ``connectSettings`` and ``generateEphemeralCert``."""
        parsed = json.loads(body) if body else None
        self.requests.append((method, path, parsed))
        bearer = headers.get("authorization", "").removeprefix("Bearer ")
        if not self.tokens.is_issued(bearer):
            return error(401, "Request had invalid authentication credentials.", "authError")
        instance = f"/sql/v1beta4/projects/{self.project}/instances/{self.instance}"
        route = urlsplit(path).path
        if method == "GET" and route == f"{instance}/connectSettings":
            return 200, {
                "kind": "sql#connectSettings",
                "region": self.region,
                "databaseVersion": "POSTGRES_16",
                "backendType": "SECOND_GEN",
                "ipAddresses": [{"type": "PRIVATE", "ipAddress": self.address}],
                "serverCaCert": {"kind": "sql#sslCert", "cert": self.ca.pem},
            }
        if method == "POST" and route == f"{instance}:generateEphemeralCert":
            return self.ephemeral_cert(parsed or {})
        return error(404, f"The Cloud SQL instance does not exist ({method} {route}).", "notFound")

    def ephemeral_cert(self, body: dict[str, Any]) -> Reply:
        """Sign the connector's key; with an IAM login token, for the token's IAM user."""
        common_name = "cloudsql-client"
        if "access_token" in body:
            account = self.tokens.account_of(body["access_token"])
            if account is None:
                return error(403, "Invalid IAM login token.", "forbidden")
            common_name = account.removesuffix(".gserviceaccount.com")
        return 200, {
            "ephemeralCert": {
                "kind": "sql#sslCert",
                "cert": self.ca.sign(body["public_key"], common_name),
            }
        }

    # -- server-side proxy ----------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            with self.context.wrap_socket(raw, server_side=True) as client:
                subject = dict(item[0] for item in client.getpeercert()["subject"])  # type: ignore[index]
                startup = _read_startup(client)
                if startup is None:
                    return
                user = startup.get("user", "")
                if user != subject.get("commonName"):
                    reason = (
                        f"Cloud SQL IAM user authentication failed for user {user!r}: the "
                        f"certificate is for {subject.get('commonName')!r}"
                    )
                    self.refused.append(reason)
                    client.sendall(_error_response("28000", reason))
                    return
                with socket.create_connection(self.postgres) as server:
                    server.sendall(_startup_message(startup))
                    _relay(client, server)
        except (OSError, ssl.SSLError) as exc:
            self.refused.append(f"{type(exc).__name__}: {exc}")


def create_iam_user(admin_url: str, account: str) -> str:
    """Create the database role of IAM user ``account`` and a schema of its own, empty.

    Returns:
        The role name (the account without ``.gserviceaccount.com``, as Cloud SQL names it).
    """
    import psycopg
    from psycopg import sql

    role = account.removesuffix(".gserviceaccount.com")
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(role)))
        # Its tables land in its own schema ("$user" leads the search path), apart from the
        # other tests sharing the database.
        connection.execute(
            sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(
                sql.Identifier(role), sql.Identifier(role)
            )
        )
    return role


def _read_exactly(sock: ssl.SSLSocket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the client closed the connection during the startup")
        data += chunk
    return data


def _read_startup(sock: ssl.SSLSocket) -> dict[str, str] | None:
    """The parameters of the PostgreSQL startup message (``None`` for a cancel request)."""
    (length,) = struct.unpack("!I", _read_exactly(sock, 4))
    body = _read_exactly(sock, length - 4)
    (protocol,) = struct.unpack("!I", body[:4])
    if protocol == _SSL_REQUEST:
        sock.sendall(b"N")  # already inside TLS
        return _read_startup(sock)
    if protocol != _PROTOCOL_3:
        return None
    fields = body[4:].split(b"\0")
    return {
        fields[i].decode(): fields[i + 1].decode()
        for i in range(0, len(fields) - 2, 2)
        if fields[i]
    }


def _startup_message(parameters: dict[str, str]) -> bytes:
    body = struct.pack("!I", _PROTOCOL_3)
    for key, value in parameters.items():
        body += key.encode() + b"\0" + value.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def _error_response(code: str, message: str) -> bytes:
    fields = b"SFATAL\0VFATAL\0C" + code.encode() + b"\0M" + message.encode() + b"\0\0"
    return b"E" + struct.pack("!I", len(fields) + 4) + fields


def _relay(client: ssl.SSLSocket, server: socket.socket) -> None:
    """Copy bytes both ways until a side closes; one thread, as an SSL socket is not thread-safe."""
    while True:
        readable = [client] if client.pending() else select.select([client, server], [], [], 60)[0]
        if not readable:
            continue
        for source, sink in ((client, server), (server, client)):
            if source in readable:
                data = source.recv(65536)
                if not data:
                    return
                sink.sendall(data)
