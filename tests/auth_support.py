"""What the auth tests share: an issuer with real keys, a token forger, the gateway under test, and a spy
that proves whether a request reached the GraphQL view at all. No tests here: the name files it with them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, Key, RSAKey
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from auth.authenticator import Authenticator
from auth.principal import Principal
from gateway.app import create_app
from gateway.graphql_view import GraphQLView
from gateway.settings import Settings, load_settings

ISSUER = "https://issuer.test/"
AUDIENCE = "https://api.test/dpor"
TENANT = uuid.UUID("6f1c1a52-8a8e-4d3e-9d55-0c0b8c1f2a11")
PARTNER = "4123456"
QUERY = {"query": "{ __typename }"}


@cache
def rsa_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig"})


@cache
def ec_key(kid: str) -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid, "use": "sig"})


def jwks_document(*keys: Key) -> dict[str, Any]:
    return {"keys": [key.as_dict(private=False) for key in keys]}


def now() -> int:
    return int(time.time())


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid RFC 9068 claims for an owner of TENANT; an override of None removes the claim."""
    issued = now()
    values: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "client_id": "client-1",
        "iat": issued,
        "exp": issued + 600,
        "jti": uuid.uuid4().hex,
        "scope": "dpor.tenant.owner",
        "tid": str(TENANT),
    }
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not None}


def sign(payload: dict[str, Any], key: Key, *, alg: str = "RS256", **header: Any) -> str:
    """A compact JWS. Header defaults: typ at+jwt and the key's kid; a header value of None removes it."""
    values: dict[str, Any] = {"alg": alg, "typ": "at+jwt", "kid": key.kid}
    values.update(header)
    values = {name: value for name, value in values.items() if value is not None}
    return jwt.encode(values, payload, key, algorithms=[alg], default_type=None)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge_unsigned(payload: dict[str, Any], **header: Any) -> str:
    """alg "none" (RFC 7518 section 3.6): no signature at all."""
    head = {"alg": "none", "typ": "at+jwt", **header}
    return f"{b64(json.dumps(head).encode())}.{b64(json.dumps(payload).encode())}."


def forge_hmac_with_public_key(payload: dict[str, Any], public_key: RSAKey) -> str:
    """The algorithm-confusion attack (RFC 8725 section 2.1): HS256 keyed with the issuer's public key, which
    a naive verifier would use as the HMAC secret."""
    pem = public_key.as_pem(private=False)
    head = {"alg": "HS256", "typ": "at+jwt", "kid": public_key.kid}
    signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def production_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """A production gateway trusting ISSUER, whose keys (unless overridden) are in a JWKS file."""
    jwks_file = tmp_path / "jwks.json"
    if "oauth_jwks_url" not in overrides and "oauth_jwks_file" not in overrides:
        jwks_file.write_text(json.dumps(jwks_document(rsa_key("rsa-1"), ec_key("ec-1"))))
        overrides["oauth_jwks_file"] = jwks_file
    values: dict[str, Any] = {
        "env": "production",
        "oauth_issuer": ISSUER,
        "oauth_audience": AUDIENCE,
        "var_dir": tmp_path / "var",
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'unused.sqlite3'}",
    }
    return load_settings(**(values | overrides))


def dev_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "dev",
        "var_dir": tmp_path / "var",
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'unused.sqlite3'}",
    }
    return load_settings(**(values | overrides))


class GraphQLSpy:
    """Records every request that reaches the GraphQL view, with the principal it carried."""

    def __init__(self) -> None:
        self.principals: list[Principal | None] = []

    @property
    def reached(self) -> int:
        return len(self.principals)


def install_spy(monkeypatch: pytest.MonkeyPatch) -> GraphQLSpy:
    """Call from a fixture: every request that reaches the GraphQL view from now on is recorded."""
    recorder = GraphQLSpy()
    original_call, original_http = GraphQLView.__call__, GraphQLView.serve_http

    # HTTP requests reach the view at serve_http: from its route, or straight from the GraphQL entrance
    # (gateway/graphql_entrance.py); websockets at __call__.
    async def recording_http(self: GraphQLView, scope: Scope, receive: Receive, send: Send) -> None:
        recorder.principals.append(scope.get("dpor.principal"))
        await original_http(self, scope, receive, send)

    async def recording_call(self: GraphQLView, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            recorder.principals.append(scope.get("dpor.principal"))
        await original_call(self, scope, receive, send)

    monkeypatch.setattr(GraphQLView, "serve_http", recording_http)
    monkeypatch.setattr(GraphQLView, "__call__", recording_call)
    return recorder


def client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gateway.test")


async def post(app: Starlette, token: str | None, **headers: str) -> httpx.Response:
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    async with client(app) as http:
        return await http.post("/graphql", json=QUERY, headers=headers)


def gateway(settings: Settings, authenticator: Authenticator | None = None) -> Starlette:
    return create_app(settings, authenticator=authenticator)


def assert_refused(response: httpx.Response, status: int, error: str | None) -> None:
    """The refusal shape every test checks: status, RFC 6750 challenge, and the GraphQL-style error body."""
    assert response.status_code == status, response.text
    expected = 'Bearer realm="dpor-gateway"' + (f', error="{error}"' if error else "")
    assert response.headers["www-authenticate"] == expected
    code = "FORBIDDEN" if status == 403 else "UNAUTHENTICATED"
    body = response.json()
    assert body["errors"][0]["extensions"] == {"code": code}
    assert "data" not in body
