"""Google credentials for the twin: a token endpoint on loopback and a credentials file naming it.

The file is a service account key file (a throwaway RSA key) whose ``token_uri`` is this endpoint:
``google.auth.default()`` finds it through ``GOOGLE_APPLICATION_CREDENTIALS``, and a client library
that exchanges the signed assertion for an access token does it here (libraries that sign their
own JWT access tokens never call it). The endpoint remembers which account each token it issued
belongs to, so the Cloud SQL fake can check the IAM login token a connection presents. An
assertion with a ``target_audience`` claim (google-auth's ``IDTokenCredentials``, what
``id_token.fetch_id_token`` uses for a key file) gets a Google ID token for that audience instead,
which the Kubeflow fake checks as Identity-Aware Proxy would. Signatures are neither checked nor
made: the twin has no secrets to protect.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from tests.cloud_twin.http import LoopbackFake, Reply, error

_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def _segment(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


class TokenEndpoint(LoopbackFake):
    """The OAuth 2.0 token endpoint: refresh-token grants in, fresh access tokens out."""

    def __init__(self) -> None:
        self.issued: dict[str, str] = {}
        """The account of each access token issued."""
        self.id_tokens: dict[str, tuple[str, str]] = {}
        """The account and audience of each ID token issued."""
        self._lock = threading.Lock()
        super().__init__()

    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        form = parse_qs(body.decode())
        if method != "POST" or form.get("grant_type") != [_JWT_BEARER]:
            return error(400, "unsupported_grant_type")
        claims = _claims(form["assertion"][0])
        account = claims["iss"]
        if "target_audience" in claims:
            return 200, {"id_token": self._id_token(account, claims["target_audience"])}
        token = f"ya29.twin-{secrets.token_urlsafe(24)}"
        with self._lock:
            self.issued[token] = account
        scopes = " ".join(form.get("scope", []))
        return 200, {
            "access_token": token,
            "expires_in": 3600,
            "token_type": "Bearer",
            "scope": scopes,
        }

    def _id_token(self, account: str, audience: str) -> str:
        now = int(time.time())
        payload = {
            "iss": "https://accounts.google.com",
            "aud": audience,
            "sub": account,
            "email": account,
            "email_verified": True,
            "iat": now,
            "exp": now + 3600,
            "jti": secrets.token_urlsafe(12),
        }
        token = ".".join(
            _segment(part)
            for part in ({"alg": "RS256", "typ": "JWT"}, payload, {"twin": "unsigned"})
        )
        with self._lock:
            self.id_tokens[token] = (account, audience)
        return token

    def id_token_account(self, token: str, audience: str) -> str | None:
        """The account of ID token ``token`` if this endpoint issued it for ``audience``."""
        with self._lock:
            account, issued_for = self.id_tokens.get(token, (None, None))
        return account if issued_for == audience else None

    def is_issued(self, token: str) -> bool:
        """Whether this endpoint issued ``token``."""
        return self.account_of(token) is not None

    def account_of(self, token: str) -> str | None:
        """The account ``token`` was issued to (``None``: not a token of this endpoint)."""
        with self._lock:
            return self.issued.get(token)

    def write_credentials(self, path: Path, account: str, project: str) -> Path:
        """Write a key file of service account ``account`` to ``path``.

        It is what ``GOOGLE_APPLICATION_CREDENTIALS`` names; ``project`` is its project.
        """
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        info = {
            "type": "service_account",
            "project_id": project,
            "private_key_id": secrets.token_hex(20),
            "private_key": pem,
            "client_email": account,
            "client_id": "100000000000000000000",
            "token_uri": f"{self.server.url}/token",
        }
        path.write_text(json.dumps(info), encoding="utf-8")
        return path
