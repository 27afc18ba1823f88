"""Every log line says what happened: the reason a request was refused, where an error points."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from db.engine import Database
from tests.auth_support import claims, gateway, now, post, production_settings, rsa_key, sign
from tests.hardening_support import client_for, settings_for, sqlite_database


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[Database]:
    db = sqlite_database(tmp_path)
    try:
        yield db
    finally:
        await db.dispose()


def messages(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == logger]


REFUSALS = {
    "no Authorization header": (None, {}, "refused POST /graphql: no credentials (no Authorization header)"),
    "basic scheme": (
        None,
        {"authorization": "Basic dXNlcjpwYXNz"},
        "refused POST /graphql: no credentials (the Authorization header names another scheme than Bearer)",
    ),
    "expired": (
        lambda: sign(claims(iat=now() - 7200, exp=now() - 3600), rsa_key("rsa-1")),
        {},
        "refused POST /graphql: invalid_token (claims: expired_token",
    ),
    "no typ": (
        lambda: sign(claims(), rsa_key("rsa-1"), typ=None),
        {},
        "refused POST /graphql: invalid_token (typ None is not at+jwt)",
    ),
    "too long-lived": (
        lambda: sign(claims(exp=now() + 10 * 86_400), rsa_key("rsa-1")),
        {},
        "refused POST /graphql: invalid_token (exp is more than 86400 s after iat)",
    ),
    "no kid": (
        lambda: sign(claims(), rsa_key("rsa-1"), kid=None),
        {},
        "refused POST /graphql: invalid_token (no kid in the JOSE header)",
    ),
    "no role": (
        lambda: sign(claims(tid=None), rsa_key("rsa-1")),
        {},
        "refused POST /graphql: insufficient_scope (no role in scope 'dpor.tenant.owner'",
    ),
}


@pytest.mark.parametrize(("make_token", "headers", "expected"), REFUSALS.values(), ids=REFUSALS.keys())
async def test_a_refused_token_is_logged_with_its_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, make_token: object, headers: dict[str, str], expected: str
) -> None:
    app = gateway(production_settings(tmp_path))
    token = make_token() if callable(make_token) else None
    with caplog.at_level(logging.INFO, logger="gateway.bearer"):
        response = await post(app, token, **headers)
    assert response.status_code in (401, 403)
    (line,) = messages(caplog, "gateway.bearer")
    assert line.startswith(expected), line
    assert "None)" not in line and ": None" not in line
    if token is not None:
        assert token not in line


async def test_validation_and_parse_errors_point_at_the_document(
    sqlite: Database, caplog: pytest.LogCaptureFixture
) -> None:
    async with client_for(settings_for(), sqlite) as client:
        with caplog.at_level(logging.INFO, logger="dpor_gateway.graphql"):
            await client.post("/graphql", json={"query": "{\n  helo\n}"})
            await client.post("/graphql", json={"query": "{ hello "})
    validation, parse = messages(caplog, "dpor_gateway.graphql")
    assert "GRAPHQL_VALIDATION_FAILED at line 2 column 3: Cannot query field 'helo'" in validation
    assert "GRAPHQL_PARSE_FAILED at line 1 column 9: Syntax Error" in parse
    assert "None" not in validation + parse


async def test_an_unexpected_field_error_names_its_path(sqlite: Database, caplog: pytest.LogCaptureFixture) -> None:
    async with client_for(settings_for(), sqlite) as client:
        with caplog.at_level(logging.INFO, logger="dpor_gateway.graphql"):
            await client.post("/graphql", json={"query": "{ boom }"})
    (line,) = messages(caplog, "dpor_gateway.graphql")
    assert line.endswith("unexpected error at path boom"), line
