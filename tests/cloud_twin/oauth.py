"""Google credentials for the twin: a token endpoint on loopback and a credentials file naming it.

The file is an ``authorized_user`` credentials file, the kind ``gcloud auth application-default
login`` writes, whose ``token_uri`` is this endpoint: ``google.auth.default()`` finds it through
``GOOGLE_APPLICATION_CREDENTIALS`` and every client library refreshes its token here. The endpoint
remembers the tokens it issued, so the Cloud SQL fake can check the token a connection presents.
"""

from __future__ import annotations

import json
import secrets
import threading
from pathlib import Path
from urllib.parse import parse_qs

from tests.cloud_twin.http import LoopbackServer, Reply, error


class TokenEndpoint:
    """The OAuth 2.0 token endpoint: refresh-token grants in, fresh access tokens out."""

    def __init__(self) -> None:
        self.issued: set[str] = set()
        self._lock = threading.Lock()
        self.server = LoopbackServer(self.route)

    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        form = parse_qs(body.decode())
        if method != "POST" or form.get("grant_type") != ["refresh_token"]:
            return error(400, "unsupported_grant_type")
        token = f"ya29.twin-{secrets.token_urlsafe(24)}"
        with self._lock:
            self.issued.add(token)
        scopes = " ".join(form.get("scope", []))
        return 200, {
            "access_token": token,
            "expires_in": 3600,
            "token_type": "Bearer",
            "scope": scopes,
        }

    def is_issued(self, token: str) -> bool:
        """Whether this endpoint issued ``token``."""
        with self._lock:
            return token in self.issued

    def write_credentials(self, path: Path, account: str) -> Path:
        """Write the credentials file of ``account`` to ``path`` (for ``GOOGLE_APPLICATION_CREDENTIALS``)."""
        info = {
            "type": "authorized_user",
            "client_id": "twin-client.apps.googleusercontent.com",
            "client_secret": "twin-secret",
            "refresh_token": f"twin-refresh-{account}",
            "token_uri": f"{self.server.url}/token",
            "account": account,
        }
        path.write_text(json.dumps(info), encoding="utf-8")
        return path
