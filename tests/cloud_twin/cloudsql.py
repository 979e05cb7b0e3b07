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
  login the IAM token does not back, with an ``ErrorResponse``) and a database the instance does
  not have, then opens the real PostgreSQL as the role named like the IAM user and relays bytes
  both ways.

Every instance keeps its data in a database of its own on the real PostgreSQL,
``twin_<unix time>_<random>``, created by :meth:`FakeCloudSql.start` (owned by the IAM user's role)
and dropped by :meth:`FakeCloudSql.stop`; the proxy rewrites the ``database`` of the startup
message from the instance's database name to it. Twins of other pytest-xdist workers, of other
checkouts and the other tests of the machine (which work in schemas of their own in ``test``)
therefore never see each other's tables or Alembic revisions, and the connector and pg8000 run
unchanged. A database rather than a schema behind ``search_path``, because nothing the client
sends or sets (``SET search_path``, a schema-qualified name, ``$user``) can reach past it, and a
``DROP DATABASE ... WITH (FORCE)`` removes everything the run left. Start removes the databases
of twins that died more than a day ago without stopping.

Each pytest-xdist worker takes its own loopback address 127.0.0.N (from ``PYTEST_XDIST_WORKER``),
as two processes cannot both listen on port 3307 of one address.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import select
import socket
import ssl
import struct
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.cloud_twin.http import LoopbackServer, Reply, error
from tests.cloud_twin.oauth import TokenEndpoint
from tests.cloud_twin.sockets import TcpServer
from tests.cloud_twin.tls import CertificateAuthority

PROXY_PORT = 3307
"""The port the connector dials on the instance's IP."""
_PROTOCOL_3 = 196608
_SSL_REQUEST = 80877103
_TWIN_DATABASE = re.compile(r"twin_(\d+)_[0-9a-f]{8}")
"""The name of a twin's backing database; the number is when it was created (Unix seconds)."""
STALE_AFTER = 24 * 3600
"""Seconds after which a twin's backing database is a leftover of a run that did not stop."""


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
        database: str,
        iam_user: str,
        postgres_url: str,
        address: str | None = None,
    ) -> None:
        self.tokens = tokens
        self.project, self.region, self.instance = connection_name.split(":")
        self.connection_name = connection_name
        self.database = database
        """The instance's database, as clients name it."""
        self.iam_user = iam_user
        """The IAM service account whose role owns the database."""
        self.admin_url = postgres_url
        target = urlsplit(postgres_url)
        self.postgres = (target.hostname or "127.0.0.1", target.port or 5432)
        self.backing_database = f"twin_{int(time.time())}_{secrets.token_hex(4)}"
        """The database of the real PostgreSQL that holds this instance's data."""
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
        self._proxy = TcpServer((self.address, PROXY_PORT), self._serve)

    @property
    def admin_endpoint(self) -> str:
        """The SQL Admin API base URL (the connector's ``sqladmin_api_endpoint``)."""
        return self.api.url

    @property
    def backing_url(self) -> str:
        """The superuser URL of :attr:`backing_database` (for a test to look inside)."""
        return urlsplit(self.admin_url)._replace(path=f"/{self.backing_database}").geturl()

    def start(self) -> FakeCloudSql:
        """Create the backing database, serve the Admin API, accept connections on ``ADDRESS:3307``."""
        try:
            drop_stale_databases(self.admin_url)
            owner = create_iam_user(self.admin_url, self.iam_user)
            create_database(self.admin_url, self.backing_database, owner)
        except BaseException:
            self._proxy.stop()
            self._directory.cleanup()
            raise
        self.api.start()
        self._proxy.start()
        return self

    def stop(self) -> None:
        """Stop both servers and drop the backing database."""
        self._proxy.stop()
        self.api.stop()
        self._directory.cleanup()
        drop_database(self.admin_url, self.backing_database)

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
                # pg8000 leaves ``database`` out when given none, and PostgreSQL then takes the user.
                if startup.get("database", user) != self.database:
                    reason = f'database "{startup.get("database", user)}" does not exist'
                    self.refused.append(reason)
                    client.sendall(_error_response("3D000", reason))
                    return
                startup["database"] = self.backing_database
                with socket.create_connection(self.postgres) as server:
                    server.sendall(_startup_message(startup))
                    _relay(client, server)
        except (OSError, ssl.SSLError) as exc:
            self.refused.append(f"{type(exc).__name__}: {exc}")


def create_iam_user(admin_url: str, account: str) -> str:
    """Create the database role of IAM user ``account`` unless it exists (roles span databases).

    Returns:
        The role name (the account without ``.gserviceaccount.com``, as Cloud SQL names it).
    """
    import psycopg
    from psycopg import errors, sql

    role = account.removesuffix(".gserviceaccount.com")
    # Twins of other processes share the role: one of them created it, maybe this instant.
    with (
        psycopg.connect(admin_url, autocommit=True) as connection,
        contextlib.suppress(errors.DuplicateObject, errors.UniqueViolation),
    ):
        connection.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    return role


def create_database(admin_url: str, name: str, owner: str) -> None:
    """Create database ``name`` owned by role ``owner``.

    Owning it lets the role create tables in its ``public`` schema (PostgreSQL 15 no longer lets
    everyone), as an IAM user does in the database it made on Cloud SQL.
    """
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as connection:
        # template0: template1 refuses to be copied while any session is connected to it.
        connection.execute(
            sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0").format(
                sql.Identifier(name), sql.Identifier(owner)
            )
        )


def drop_database(admin_url: str, name: str) -> None:
    """Drop database ``name`` and end the sessions still in it (pools the tests left open)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def drop_stale_databases(admin_url: str, now: float | None = None) -> list[str]:
    """Drop the backing databases of twins created more than :data:`STALE_AFTER` seconds ago.

    Returns:
        The names dropped.
    """
    import psycopg

    now = time.time() if now is None else now
    with psycopg.connect(admin_url, autocommit=True) as connection:
        names = [row[0] for row in connection.execute("SELECT datname FROM pg_database")]
    stale = [
        name
        for name in names
        if (match := _TWIN_DATABASE.fullmatch(name)) and int(match[1]) < now - STALE_AFTER
    ]
    for name in stale:
        drop_database(admin_url, name)
    return stale


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
