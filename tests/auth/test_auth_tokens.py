"""Access token validation through HTTP: every forged, stale or misdirected token is refused with 401 and the
RFC 6750 challenge, and never reaches the GraphQL view. A production gateway, keys from a JWKS file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import RSAKey
from sqlalchemy import event
from starlette.applications import Starlette
from starlette.types import Message

from auth.principal import Role
from db.engine import Database
from gateway.app import create_app
from tests.auth_support import (
    AUDIENCE,
    ISSUER,
    PARTNER,
    TENANT,
    GraphQLSpy,
    assert_refused,
    b64,
    claims,
    client,
    ec_key,
    forge_hmac_with_public_key,
    forge_unsigned,
    gateway,
    install_spy,
    jwks_document,
    now,
    post,
    production_settings,
    rsa_key,
    sign,
)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> GraphQLSpy:
    return install_spy(monkeypatch)


@pytest.fixture
def app(tmp_path: Path) -> Starlette:
    return gateway(production_settings(tmp_path))


def _tampered() -> str:
    # Signed for an owner; the payload then rewritten to platform admin, signature kept.
    header, _payload, signature = sign(claims(), rsa_key("rsa-1")).split(".")
    forged = b64(json.dumps(claims(scope="dpor.admin")).encode())
    return f"{header}.{forged}.{signature}"


def _embedded_jwk() -> str:
    # RFC 8725 section 3.10: the attacker signs with their own key and offers it in the header.
    attacker = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
    return sign(claims(), attacker, jwk=attacker.as_dict(private=False))


def _swap_kid() -> str:
    # A genuine ES256 signature presented under the RSA key's kid.
    return sign(claims(), ec_key("ec-1"), alg="ES256", kid="rsa-1")


def _crit_not_a_list() -> str:
    _header, payload, signature = sign(claims(), rsa_key("rsa-1")).split(".")
    header = {"alg": "RS256", "typ": "at+jwt", "kid": "rsa-1", "crit": 1}
    return f"{b64(json.dumps(header).encode())}.{payload}.{signature}"


def _deeply_nested_payload() -> str:
    # Correctly signed, so the payload gets parsed: JSON nested past the parser's recursion limit.
    header = {"alg": "RS256", "typ": "at+jwt", "kid": "rsa-1"}
    return jws.serialize_compact(header, b"[" * 2500 + b"]" * 2500, rsa_key("rsa-1"), algorithms=["RS256"])


INVALID_TOKENS: dict[str, Callable[[], str]] = {
    "alg none": lambda: forge_unsigned(claims(), kid="rsa-1"),
    "alg none, no kid": lambda: forge_unsigned(claims()),
    "HS256 keyed with the public key": lambda: forge_hmac_with_public_key(claims(), rsa_key("rsa-1")),
    "RS512, outside the allow-list": lambda: sign(claims(), rsa_key("rsa-1"), alg="RS512"),
    "unknown kid": lambda: sign(claims(), rsa_key("rsa-1"), kid="rsa-9"),
    "signed by another key under a trusted kid": lambda: sign(
        claims(), RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
    ),
    "embedded jwk": _embedded_jwk,
    "ES256 signature under an RSA kid": _swap_kid,
    "expired": lambda: sign(claims(iat=now() - 7200, exp=now() - 3600), rsa_key("rsa-1")),
    "not yet valid": lambda: sign(claims(nbf=now() + 3600), rsa_key("rsa-1")),
    "issued in the future": lambda: sign(claims(iat=now() + 3600), rsa_key("rsa-1")),
    "wrong issuer": lambda: sign(claims(iss="https://other-issuer.test/"), rsa_key("rsa-1")),
    "issuer differing by a slash": lambda: sign(claims(iss=ISSUER.rstrip("/")), rsa_key("rsa-1")),
    "wrong audience": lambda: sign(claims(aud="https://other-api.test/"), rsa_key("rsa-1")),
    "audience list without us": lambda: sign(claims(aud=["https://a.test/", "https://b.test/"]), rsa_key("rsa-1")),
    "tampered payload": _tampered,
    "missing typ": lambda: sign(claims(), rsa_key("rsa-1"), typ=None),
    "typ JWT (an ID token)": lambda: sign(claims(), rsa_key("rsa-1"), typ="JWT"),
    "missing kid": lambda: sign(claims(), rsa_key("rsa-1"), kid=None),
    "missing exp": lambda: sign(claims(exp=None), rsa_key("rsa-1")),
    "missing iat": lambda: sign(claims(iat=None), rsa_key("rsa-1")),
    "valid for a century": lambda: sign(claims(exp=now() + 100 * 365 * 86_400), rsa_key("rsa-1")),
    "a day and a second from iat": lambda: sign(claims(iat=now() - 10, exp=now() - 10 + 86_401), rsa_key("rsa-1")),
    "missing jti": lambda: sign(claims(jti=None), rsa_key("rsa-1")),
    "missing client_id": lambda: sign(claims(client_id=None), rsa_key("rsa-1")),
    "missing sub": lambda: sign(claims(sub=None), rsa_key("rsa-1")),
    "scope not a string": lambda: sign(claims(scope=["dpor.tenant.owner"]), rsa_key("rsa-1")),
    "exp not a number": lambda: sign(claims(exp="tomorrow"), rsa_key("rsa-1")),
    "garbage": lambda: "not-a-token",
    "three garbage segments": lambda: "abc.def.ghi",
    "header not JSON": lambda: f"{b64(b'{nope')}.{b64(b'{}')}.{b64(b'sig')}",
    "oversized": lambda: "a" * 9000,
    "crit not a list": _crit_not_a_list,
    "deeply nested payload": _deeply_nested_payload,
}


@pytest.mark.parametrize("make_token", INVALID_TOKENS.values(), ids=INVALID_TOKENS.keys())
async def test_invalid_token_is_refused_before_anything_runs(
    app: Starlette, spy: GraphQLSpy, make_token: Callable[[], str]
) -> None:
    response = await post(app, make_token())
    assert_refused(response, 401, "invalid_token")
    assert spy.reached == 0


MALFORMED_AUTHORIZATION = {
    "scheme only": "Bearer",
    "two tokens": "Bearer abc def",
    "not b64token characters": "Bearer abc$def",
}


@pytest.mark.parametrize("value", MALFORMED_AUTHORIZATION.values(), ids=MALFORMED_AUTHORIZATION.keys())
async def test_malformed_bearer_credentials_are_invalid_tokens(app: Starlette, spy: GraphQLSpy, value: str) -> None:
    async with client(app) as http:
        response = await http.post("/graphql", json={"query": "{ __typename }"}, headers={"authorization": value})
    assert_refused(response, 401, "invalid_token")
    assert spy.reached == 0


async def test_two_authorization_headers_are_refused(app: Starlette, spy: GraphQLSpy) -> None:
    good = sign(claims(), rsa_key("rsa-1"))
    async with client(app) as http:
        response = await http.post(
            "/graphql",
            json={"query": "{ __typename }"},
            headers=[("authorization", f"Bearer {good}"), ("authorization", f"Bearer {good}")],
        )
    assert_refused(response, 401, "invalid_token")
    assert spy.reached == 0


NO_CREDENTIALS: dict[str, dict[str, str]] = {
    "no authorization header": {},
    "basic scheme": {"authorization": "Basic dXNlcjpwYXNz"},
}


@pytest.mark.parametrize("headers", NO_CREDENTIALS.values(), ids=NO_CREDENTIALS.keys())
async def test_request_without_bearer_credentials_gets_a_bare_challenge(
    app: Starlette, spy: GraphQLSpy, headers: dict[str, str]
) -> None:
    async with client(app) as http:
        response = await http.post("/graphql", json={"query": "{ __typename }"}, headers=headers)
    # RFC 6750 section 3.1: no error code when the request carried no authentication information.
    assert_refused(response, 401, None)
    assert spy.reached == 0


async def test_token_in_the_query_string_is_not_accepted(app: Starlette, spy: GraphQLSpy) -> None:
    token = sign(claims(), rsa_key("rsa-1"))
    async with client(app) as http:
        response = await http.get("/graphql", params={"query": "{ __typename }", "access_token": token})
    assert_refused(response, 401, None)
    assert spy.reached == 0


async def test_get_requests_are_guarded_too(app: Starlette, spy: GraphQLSpy) -> None:
    async with client(app) as http:
        refused = await http.get("/graphql", params={"query": "{ __typename }"})
        accepted = await http.get(
            "/graphql",
            params={"query": "{ __typename }"},
            headers={"authorization": f"Bearer {sign(claims(), rsa_key('rsa-1'))}"},
        )
    assert_refused(refused, 401, None)
    assert accepted.status_code == 200
    assert accepted.json()["data"] == {"__typename": "Query"}
    assert "errors" not in accepted.json()
    assert spy.reached == 1


NO_ROLE: dict[str, dict[str, Any]] = {
    "no scope claim": {"scope": None},
    "empty scope": {"scope": ""},
    "only foreign scopes": {"scope": "openid profile email"},
    "owner without tid": {"tid": None},
    "owner with a tid that is no UUID": {"tid": "contoso.onmicrosoft.com"},
    "owner with an upper-case tid": {"tid": str(TENANT).upper()},
    "owner with a braced tid": {"tid": "{" + str(TENANT)[:34] + "}"},
    "partner without partner_id": {"scope": "dpor.partner.read"},
    "partner with a partner_id that is no MPN id": {"scope": "dpor.partner.read", "partner_id": "MPN-123"},
    "delegated admin without partner_id": {"scope": "dpor.tenant.delegated_admin"},
    "delegated admin without tid": {
        "scope": "dpor.tenant.delegated_admin",
        "tid": None,
        "partner_id": PARTNER,
    },
}


@pytest.mark.parametrize("overrides", NO_ROLE.values(), ids=NO_ROLE.keys())
async def test_valid_token_granting_no_role_is_forbidden(
    app: Starlette, spy: GraphQLSpy, overrides: dict[str, Any]
) -> None:
    response = await post(app, sign(claims(**overrides), rsa_key("rsa-1")))
    assert_refused(response, 403, "insufficient_scope")
    assert spy.reached == 0


@pytest.mark.parametrize(
    ("alg", "key"), [("RS256", rsa_key("rsa-1")), ("PS256", rsa_key("rsa-1")), ("ES256", ec_key("ec-1"))]
)
async def test_each_allowed_algorithm_verifies(app: Starlette, spy: GraphQLSpy, alg: str, key: Any) -> None:
    response = await post(app, sign(claims(), key, alg=alg))
    assert response.status_code == 200, response.text
    assert spy.reached == 1


async def test_a_token_living_exactly_the_maximum_is_accepted(app: Starlette, spy: GraphQLSpy) -> None:
    issued = now() - 10
    response = await post(app, sign(claims(iat=issued, exp=issued + 86_400), rsa_key("rsa-1")))
    assert response.status_code == 200, response.text


async def test_max_token_lifetime_zero_means_no_maximum(tmp_path: Path, spy: GraphQLSpy) -> None:
    app = gateway(production_settings(tmp_path, oauth_max_token_lifetime_seconds=0))
    response = await post(app, sign(claims(exp=now() + 100 * 365 * 86_400), rsa_key("rsa-1")))
    assert response.status_code == 200, response.text


async def test_typ_may_carry_the_application_prefix_in_any_case(app: Starlette, spy: GraphQLSpy) -> None:
    response = await post(app, sign(claims(), rsa_key("rsa-1"), typ="Application/AT+JWT"))
    assert response.status_code == 200, response.text


async def test_valid_token_stores_the_principal_for_the_view(app: Starlette, spy: GraphQLSpy) -> None:
    token_claims = claims(
        scope="dpor.tenant.delegated_admin dpor.partner.read openid",
        partner_id=PARTNER,
        aud=["https://elsewhere.test/", AUDIENCE],
    )
    response = await post(app, sign(token_claims, rsa_key("rsa-1")))
    assert response.status_code == 200, response.text
    (principal,) = spy.principals
    assert principal is not None
    assert principal.subject == "user-1"
    assert principal.client_id == "client-1"
    assert principal.roles == {Role.DELEGATED_ADMIN, Role.PARTNER}
    assert principal.scopes == {"dpor.tenant.delegated_admin", "dpor.partner.read", "openid"}
    assert principal.tenant_external_id == TENANT
    assert principal.partner_mpn_id == PARTNER
    assert principal.token_id == token_claims["jti"]


async def test_a_principal_smuggled_into_the_scope_is_discarded(tmp_path: Path, spy: GraphQLSpy) -> None:
    inner = gateway(production_settings(tmp_path))
    forged = object()

    async def outer(scope: Any, receive: Any, send: Any) -> None:
        await inner({**scope, "dpor.principal": forged}, receive, send)

    async with client(outer) as http:  # type: ignore[arg-type]
        response = await http.post("/graphql", json={"query": "{ __typename }"})
    assert_refused(response, 401, None)
    assert spy.reached == 0


async def test_probes_need_no_token(app: Starlette) -> None:
    async with client(app) as http:
        response = await http.get("/healthz")
    assert response.status_code == 200


async def test_graphiql_page_is_never_served_without_a_token_in_production(app: Starlette, spy: GraphQLSpy) -> None:
    async with client(app) as http:
        response = await http.get("/graphql", headers={"accept": "text/html"})
    assert_refused(response, 401, None)
    assert spy.reached == 0


async def test_trailing_slash_path_is_guarded(app: Starlette, spy: GraphQLSpy) -> None:
    async with client(app) as http:
        response = await http.post("/graphql/", json={"query": "{ __typename }"})
    assert_refused(response, 401, None)
    assert spy.reached == 0


async def test_websocket_with_an_invalid_token_header_is_closed_before_accept(app: Starlette, spy: GraphQLSpy) -> None:
    # Without the header, the handshake goes on: graphql-transport-ws brings the token in `connection_init`, where
    # the view checks it (tests/service/test_subscriptions_ws.py).
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    headers = [(b"authorization", b"Bearer forged")]
    scope = {"type": "websocket", "path": "/graphql", "headers": headers, "query_string": b"", "subprotocols": []}
    await app.build_middleware_stack()(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert spy.reached == 0


async def test_token_without_kid_is_refused_even_when_the_key_set_has_one_key(tmp_path: Path, spy: GraphQLSpy) -> None:
    # Left to joserfc, a single-key set verifies a kid-less token, and the same token fails once the issuer
    # publishes a second key: require kid so the answer never depends on the size of the key set.
    single = tmp_path / "single.json"
    single.write_text(json.dumps(jwks_document(rsa_key("rsa-1"))))
    app = gateway(production_settings(tmp_path, oauth_jwks_file=single))
    assert (await post(app, sign(claims(), rsa_key("rsa-1")))).status_code == 200
    assert_refused(await post(app, sign(claims(), rsa_key("rsa-1"), kid=None)), 401, "invalid_token")
    assert spy.reached == 1


async def test_probes_need_no_token_and_refusals_touch_no_database(
    tmp_path: Path, database: Database, spy: GraphQLSpy
) -> None:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    app = create_app(production_settings(tmp_path), database)
    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        async with client(app) as http:
            ready = await http.get("/readyz")
            # The tests connect to PostgreSQL as a superuser, which production is never ready as
            # (tests/service/test_app_role.py has the least-privileged role's 200): either way the probe answered.
            assert ready.status_code == (503 if database.dialect == "postgresql" else 200), ready.text
            assert statements  # the probe itself reads the database, without a token
            statements.clear()
            for make_token in INVALID_TOKENS.values():
                assert_refused(await post(app, make_token()), 401, "invalid_token")
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)
    assert statements == []
    assert spy.reached == 0
