"""The issuer's key set over HTTP: cached, refetched on rotation, floored under a flood of unknown kids, and
kept when the issuer fails. The issuer is an httpx MockTransport; time is a clock the tests move."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc.jwk import Key, OctKey
from starlette.applications import Starlette

from auth.authenticator import Authenticator
from auth.jwks import COOLDOWN_SECONDS, LIFETIME_SECONDS, MAX_RESPONSE_BYTES
from gateway.wiring import auth_config
from tests.auth_support import (
    AUDIENCE,
    ISSUER,
    GraphQLSpy,
    assert_refused,
    claims,
    dev_settings,
    ec_key,
    gateway,
    install_spy,
    jwks_document,
    post,
    production_settings,
    rsa_key,
    sign,
)

JWKS_URL = "https://issuer.test/.well-known/jwks.json"


class Issuer:
    """A JWKS endpoint whose answer the test sets, counting the requests it gets."""

    def __init__(self, *keys: Key) -> None:
        self.document: Any = jwks_document(*keys)
        self.failure: Exception | int | None = None
        self.requests: list[httpx.Request] = []

    def publish(self, *keys: Key) -> None:
        self.document = jwks_document(*keys)

    @property
    def fetches(self) -> int:
        return sum(1 for request in self.requests if str(request.url) == JWKS_URL)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if isinstance(self.failure, Exception):
            raise self.failure
        if isinstance(self.failure, int):
            return httpx.Response(self.failure, text="issuer trouble")
        if str(request.url) != JWKS_URL:
            return httpx.Response(404)
        body = self.document if isinstance(self.document, bytes) else json.dumps(self.document).encode()
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> GraphQLSpy:
    return install_spy(monkeypatch)


@pytest.fixture
def issuer() -> Issuer:
    return Issuer(rsa_key("rsa-1"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(tmp_path: Path, issuer: Issuer, clock: Clock) -> Starlette:
    settings = production_settings(tmp_path, oauth_jwks_url=JWKS_URL)
    authenticator = Authenticator.from_config(
        auth_config(settings), transport=httpx.MockTransport(issuer.handler), clock=clock
    )
    return gateway(settings, authenticator)


def token(kid: str = "rsa-1", key: Key | None = None) -> str:
    return sign(claims(), key or rsa_key(kid), kid=kid)


async def test_known_kid_costs_no_request_after_the_first(app: Starlette, issuer: Issuer, clock: Clock) -> None:
    for _ in range(20):
        assert (await post(app, token())).status_code == 200
        clock.advance(1)
    assert issuer.fetches == 1


async def test_rotation_new_key_trusted_after_refetch_old_key_refused_once_removed(
    app: Starlette, issuer: Issuer, clock: Clock, spy: GraphQLSpy
) -> None:
    assert (await post(app, token("rsa-1"))).status_code == 200
    # The issuer starts signing with a new key: the unknown kid triggers one refetch.
    issuer.publish(rsa_key("rsa-1"), rsa_key("rsa-2"))
    clock.advance(COOLDOWN_SECONDS)
    assert (await post(app, token("rsa-2"))).status_code == 200
    assert issuer.fetches == 2
    # The old key is withdrawn; once the cached set expires, tokens signed with it are refused.
    issuer.publish(rsa_key("rsa-2"))
    clock.advance(LIFETIME_SECONDS)
    assert_refused(await post(app, token("rsa-1")), 401, "invalid_token")
    assert issuer.fetches == 3
    assert (await post(app, token("rsa-2"))).status_code == 200
    assert issuer.fetches == 3
    assert spy.reached == 2 + 1


async def test_unknown_kid_within_cooldown_is_refused_without_a_request(
    app: Starlette, issuer: Issuer, clock: Clock
) -> None:
    assert (await post(app, token("rsa-1"))).status_code == 200
    issuer.publish(rsa_key("rsa-1"), rsa_key("rsa-2"))
    clock.advance(COOLDOWN_SECONDS - 1)
    assert_refused(await post(app, token("rsa-2")), 401, "invalid_token")
    assert issuer.fetches == 1
    clock.advance(1)
    assert (await post(app, token("rsa-2"))).status_code == 200
    assert issuer.fetches == 2


async def test_flood_of_unknown_kids_costs_one_request_per_cooldown(
    app: Starlette, issuer: Issuer, clock: Clock, spy: GraphQLSpy
) -> None:
    assert (await post(app, token())).status_code == 200
    clock.advance(COOLDOWN_SECONDS)

    async def flood() -> list[int]:
        forged = [token(kid=uuid.uuid4().hex, key=rsa_key("rsa-1")) for _ in range(50)]
        responses = await asyncio.gather(*(post(app, value) for value in forged))
        return [response.status_code for response in responses]

    assert set(await flood()) == {401}
    assert issuer.fetches == 2
    clock.advance(COOLDOWN_SECONDS / 2)
    assert set(await flood()) == {401}
    assert issuer.fetches == 2
    clock.advance(COOLDOWN_SECONDS / 2)
    assert set(await flood()) == {401}
    assert issuer.fetches == 3
    assert spy.reached == 1


@pytest.mark.parametrize(
    "failure",
    [
        500,
        404,
        httpx.ConnectError("issuer down"),
        httpx.ReadTimeout("too slow"),
        b"<html>not json</html>",
        b"[" * 100_000,
        b'{"keys": "\xff"}',
    ],
    ids=["500", "404", "connection refused", "timeout", "not JSON", "nested too deep", "not UTF-8"],
)
async def test_stale_keys_are_kept_when_the_issuer_fails(
    app: Starlette, issuer: Issuer, clock: Clock, failure: Any
) -> None:
    assert (await post(app, token())).status_code == 200
    if isinstance(failure, bytes):
        issuer.document = failure
    else:
        issuer.failure = failure
    clock.advance(LIFETIME_SECONDS + 1)
    assert (await post(app, token())).status_code == 200
    assert issuer.fetches == 2
    # The failed attempt starts the cooldown: the issuer is not asked again on every request.
    clock.advance(1)
    assert (await post(app, token())).status_code == 200
    assert issuer.fetches == 2


@pytest.mark.parametrize(
    "document",
    [
        {"keys": []},
        {"nothing": "here"},
        {"keys": [OctKey.generate_key(256, parameters={"kid": "rsa-1"}).as_dict(private=True)]},
    ],
    ids=["empty set", "no keys member", "only a symmetric key"],
)
async def test_a_key_set_without_usable_keys_does_not_replace_the_known_one(
    app: Starlette, issuer: Issuer, clock: Clock, document: Any
) -> None:
    assert (await post(app, token())).status_code == 200
    issuer.document = document
    clock.advance(LIFETIME_SECONDS)
    assert (await post(app, token())).status_code == 200
    assert issuer.fetches == 2


async def test_oversized_key_set_is_not_read(app: Starlette, issuer: Issuer, clock: Clock) -> None:
    assert (await post(app, token())).status_code == 200
    issuer.document = b'{"keys": [' + b" " * MAX_RESPONSE_BYTES + b"]}"
    clock.advance(LIFETIME_SECONDS)
    assert (await post(app, token())).status_code == 200
    assert issuer.fetches == 2


async def test_issuer_down_from_the_start_means_401_not_5xx(app: Starlette, issuer: Issuer) -> None:
    issuer.failure = httpx.ConnectError("issuer down")
    assert_refused(await post(app, token()), 401, "invalid_token")


async def test_unusable_members_are_skipped_and_the_rest_trusted(app: Starlette, issuer: Issuer, clock: Clock) -> None:
    hmac_key = OctKey.generate_key(256, parameters={"kid": "oct-1"}).as_dict(private=True)
    encryption_key = rsa_key("enc-1").as_dict(private=False) | {"use": "enc"}
    no_kid = {name: value for name, value in rsa_key("rsa-x").as_dict(private=False).items() if name != "kid"}
    private = rsa_key("rsa-p").as_dict(private=True)
    issuer.document = {
        "keys": [hmac_key, encryption_key, no_kid, private, {"kty": "RSA", "kid": "broken"}]
        + jwks_document(rsa_key("rsa-1"), ec_key("ec-1"))["keys"]
    }
    assert (await post(app, token("rsa-1"))).status_code == 200
    assert (await post(app, sign(claims(), ec_key("ec-1"), alg="ES256"))).status_code == 200
    for kid in ("enc-1", "rsa-p"):
        assert_refused(await post(app, token(kid)), 401, "invalid_token")
    assert issuer.fetches == 1  # the refused kids were looked up within the cooldown


async def test_token_headers_naming_other_key_locations_are_never_followed(
    app: Starlette, issuer: Issuer, clock: Clock
) -> None:
    attacker = rsa_key("attacker")
    forged = sign(
        claims(),
        attacker,
        kid="attacker",
        jku="https://attacker.test/jwks.json",
        x5u="https://attacker.test/cert.pem",
    )
    assert_refused(await post(app, forged), 401, "invalid_token")
    assert {request.url.host for request in issuer.requests} == {"issuer.test"}


async def test_a_reused_token_verified_under_a_withdrawn_key_is_refused(
    app: Starlette, issuer: Issuer, clock: Clock
) -> None:
    # The same token bytes: the gateway remembers having verified them, but only under the key set it used.
    reused = token("rsa-1")
    assert (await post(app, reused)).status_code == 200
    assert (await post(app, reused)).status_code == 200
    issuer.publish(rsa_key("rsa-2"))
    clock.advance(LIFETIME_SECONDS)
    assert_refused(await post(app, reused), 401, "invalid_token")
    assert issuer.fetches == 2


class LocalIssuer:
    """A real HTTP server on 127.0.0.1 serving a JWKS, to exercise the network path MockTransport skips."""

    def __init__(self) -> None:
        self.document = jwks_document(rsa_key("rsa-1"))
        self.paths: list[str] = []
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.paths.append(self.path)
                if self.path == "/moved":
                    self.send_response(302)
                    self.send_header("location", "/jwks.json")
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                body = json.dumps(issuer.document).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"


@pytest.fixture
def local_issuer() -> Iterator[LocalIssuer]:
    issuer = LocalIssuer()
    issuer.thread.start()
    yield issuer
    issuer.server.shutdown()
    issuer.server.server_close()
    issuer.thread.join()


@pytest.mark.parametrize(("path", "status"), [("/jwks.json", 200), ("/moved", 401)])
async def test_over_real_http_and_redirects_are_not_followed(
    tmp_path: Path, local_issuer: LocalIssuer, path: str, status: int
) -> None:
    # Dev settings: production insists on https, which a local test server does not speak.
    settings = dev_settings(
        tmp_path, oauth_jwks_url=local_issuer.url(path), oauth_issuer=ISSUER, oauth_audience=AUDIENCE
    )
    authenticator = Authenticator.from_config(auth_config(settings))
    try:
        response = await post(gateway(settings, authenticator), token())
    finally:
        await authenticator.aclose()
    assert response.status_code == status
    assert local_issuer.paths == [path]
