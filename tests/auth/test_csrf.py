"""Cross-site request forgery: a request a browser sends cross-site without a CORS preflight never runs an
operation.

The rule (README, "CSRF"): every operation needs an `Authorization: Bearer` header. A browser attaches no
bearer token on its own (it is not a cookie: nothing ambient is accepted, Basic credentials are refused), and
the header is not CORS-safelisted, so a cross-origin page can send it only after a preflight, which succeeds for
DPOR_CORS_ORIGINS only (none by default). That holds for GET as for POST. On top of it, a POST must be
`application/json`: the simple content types a form or `fetch(..., {mode: "no-cors"})` can send are refused
even when a token is present.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.applications import Starlette

from tests.auth_support import GraphQLSpy, claims, client, gateway, install_spy, production_settings, rsa_key, sign

QUERY = '{"query": "{ __typename }"}'
ALLOWED_ORIGIN = "https://app.example"


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> GraphQLSpy:
    return install_spy(monkeypatch)


@pytest.fixture
def app(tmp_path: Path) -> Starlette:
    return gateway(production_settings(tmp_path, cors_origins=(ALLOWED_ORIGIN,)))


def bearer() -> dict[str, str]:
    return {"authorization": f"Bearer {sign(claims(), rsa_key('rsa-1'))}"}


SIMPLE_POSTS = {
    "text/plain": ("text/plain", QUERY),
    "text/plain with a charset": ("text/plain; charset=utf-8", QUERY),
    "a form": ("application/x-www-form-urlencoded", "query=%7B+__typename+%7D"),
    "multipart": (
        "multipart/form-data; boundary=x",
        '--x\r\nContent-Disposition: form-data; name="query"\r\n\r\n{ a }\r\n--x--',
    ),
    "no content type": (None, QUERY),
}


@pytest.mark.parametrize(("content_type", "body"), SIMPLE_POSTS.values(), ids=SIMPLE_POSTS.keys())
async def test_a_simple_post_never_runs_an_operation_even_with_a_token(
    app: Starlette, content_type: str | None, body: str
) -> None:
    headers = bearer() | ({"content-type": content_type} if content_type else {})
    async with client(app) as http:
        response = await http.post("/graphql", content=body.encode(), headers=headers)
    assert response.status_code == 415, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert "data" not in response.json()


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_without_a_bearer_token_nothing_reaches_graphql(app: Starlette, spy: GraphQLSpy, method: str) -> None:
    # What a cross-site <img>, <form> or no-cors fetch can send: cookies and Basic credentials at most.
    async with client(app) as http:
        response = await http.request(
            method,
            "/graphql",
            params={"query": "{ __typename }"},
            content=QUERY.encode() if method == "POST" else None,
            headers={
                "content-type": "text/plain",
                "cookie": "session=abc",
                "authorization": "Basic dXNlcjpwYXNz",
                "origin": "https://evil.example",
            },
        )
    assert response.status_code == 401
    assert spy.reached == 0


@pytest.mark.parametrize(("origin", "allowed"), [("https://evil.example", False), (ALLOWED_ORIGIN, True)])
async def test_a_cross_origin_get_with_a_token_needs_a_preflight_only_listed_origins_pass(
    app: Starlette, origin: str, allowed: bool
) -> None:
    async with client(app) as http:
        preflight = await http.options(
            "/graphql",
            headers={
                "origin": origin,
                "access-control-request-method": "GET",
                "access-control-request-headers": "authorization",
            },
        )
    assert (preflight.headers.get("access-control-allow-origin") == origin) is allowed
    assert (preflight.status_code == 200) is allowed
