"""Offline stand-ins for the cloud identity services the Azure / Vertex tests need (not a test module).

``TokenServer`` is Google's OAuth token endpoint on 127.0.0.1: it takes the service-account JWT grant
google-auth sends, checks the JWT's RS256 signature with the key's public half, and answers with an
access token. ``service_account_info`` makes a throwaway service-account key whose ``token_uri`` is it.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def _b64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


class TokenServer:
    """``POST /token`` with ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>``."""

    def __init__(self, expires_in: int = 3600) -> None:
        self.expires_in = expires_in
        self.fail_with: int | None = None  # answer with this status (an OAuth error body) instead
        self.grants: list[dict[str, Any]] = []  # the verified JWT claims, one per token issued
        self.public_keys: list[Any] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def token_uri(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def __enter__(self) -> TokenServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _verify(self, assertion: str) -> dict[str, Any]:
        head, payload, signature = assertion.split(".")
        header = json.loads(_b64(head))
        assert header["alg"] == "RS256", header
        signed = f"{head}.{payload}".encode()
        errors = []
        for key in self.public_keys:
            try:
                key.verify(_b64(signature), signed, padding.PKCS1v15(), hashes.SHA256())
                break
            except Exception as exc:  # the next key, if any
                errors.append(exc)
        else:
            raise AssertionError(f"JWT signature does not verify with any known key ({errors})")
        claims = json.loads(_b64(payload))
        # google-auth puts Google's token endpoint in ``aud`` whatever ``token_uri`` it posts to
        assert claims["aud"] in (self.token_uri, "https://oauth2.googleapis.com/token"), claims
        assert claims["exp"] > time.time() - 5, claims
        return claims

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                if outer.fail_with is not None:
                    self._answer(outer.fail_with, {"error": "invalid_grant", "error_description": "Invalid grant."})
                    return
                if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
                    self._answer(400, {"error": "unsupported_grant_type"})
                    return
                try:
                    claims = outer._verify(form["assertion"][0])
                except (AssertionError, KeyError, ValueError) as exc:
                    self._answer(400, {"error": "invalid_grant", "error_description": str(exc)})
                    return
                outer.grants.append(claims)
                n = len(outer.grants)
                self._answer(200, {"access_token": f"ya29.fake-{n}", "expires_in": outer.expires_in,
                                   "token_type": "Bearer"})  # fmt: skip

        return Handler


def service_account_info(server: TokenServer, project: str = "sa-project") -> dict[str, Any]:
    """A throwaway service-account key (fresh RSA key) whose token endpoint is ``server``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server.public_keys.append(key.public_key())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": project,
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": f"volley-test@{project}.iam.gserviceaccount.com",
        "client_id": "100000000000000000001",
        "token_uri": server.token_uri,
    }
