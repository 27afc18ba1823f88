"""DPOR_ENV=production: no introspection, no suggestions, no GraphiQL, masked errors, GET for queries only."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from strawberry.extensions import SchemaExtension

from db.engine import Database
from gateway.wiring import extension_config
from schema import extensions
from schema.errors import GatewaySchema
from tests.hardening_support import Mutation, Query, client_for, codes, settings_for, sqlite_database

INTROSPECTION = {"query": "{ __schema { queryType { name } } }"}


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = sqlite_database(tmp_path)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def production(database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(settings_for(env="production", cors_origins=("https://app.example",)), database) as client:
        yield client


@pytest.fixture
async def development(database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(settings_for(env="dev"), database) as client:
        yield client


async def test_introspection_is_off(production: httpx.AsyncClient, development: httpx.AsyncClient) -> None:
    refused = (await production.post("/graphql", json=INTROSPECTION)).json()
    assert refused.get("data") is None
    assert set(codes(refused)) == {"GRAPHQL_VALIDATION_FAILED"}
    assert "introspection has been disabled" in refused["errors"][0]["message"]
    assert (await development.post("/graphql", json=INTROSPECTION)).json()["data"] == {
        "__schema": {"queryType": {"name": "Query"}}
    }
    # __typename is not introspection of the schema: clients (and caches) rely on it.
    assert (await production.post("/graphql", json={"query": "{ __typename }"})).json()["data"] == {
        "__typename": "Query"
    }


async def test_introspection_can_be_enabled(database: Database) -> None:
    settings = settings_for(env="production", introspection_in_production=True)
    async with client_for(settings, database) as client:
        assert "errors" not in (await client.post("/graphql", json=INTROSPECTION)).json()


async def test_no_field_suggestions(production: httpx.AsyncClient, development: httpx.AsyncClient) -> None:
    query = {"query": "{ secretFeld }"}
    suggested = (await development.post("/graphql", json=query)).json()["errors"][0]["message"]
    assert "Did you mean 'secretField'?" in suggested
    [error] = (await production.post("/graphql", json=query)).json()["errors"]
    assert error["message"] == "Cannot query field 'secretFeld' on type 'Query'."
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_unexpected_errors_are_masked_and_logged_with_the_request_id(
    production: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="dpor_gateway.graphql"):
        response = await production.post("/graphql", json={"query": "{ boom }"})
    request_id = response.headers["x-request-id"]
    [error] = response.json()["errors"]
    assert error["message"] == "Internal server error."
    assert error["extensions"] == {"code": "INTERNAL", "requestId": request_id}
    assert "hunter2" not in response.text
    # Logged once, at ERROR, with the request id and the original exception (schema/errors.py).
    [record] = [record for record in caplog.records if record.name == "dpor_gateway.graphql"]
    assert record.levelno == logging.ERROR
    assert request_id in record.getMessage()
    assert record.exc_info is not None and "hunter2" in str(record.exc_info[1])


async def test_variables_that_do_not_coerce_are_logged_as_the_callers_mistake(
    production: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    query = {"query": "query($n: Int) { items(first: $n) { totalCount } }", "variables": {"n": 2**31}}
    with caplog.at_level(logging.INFO, logger="dpor_gateway.graphql"):
        body = (await production.post("/graphql", json=query)).json()
    assert codes(body) == ["BAD_USER_INPUT"]
    records = [record for record in caplog.records if record.name == "dpor_gateway.graphql"]
    assert records and all(record.levelno == logging.INFO for record in records)


class BrokenExtension(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        raise KeyError("internal detail hunter2")
        yield  # pragma: no cover


async def test_a_failing_extension_is_masked_too(database: Database, caplog: pytest.LogCaptureFixture) -> None:
    """Errors raised inside extensions bypass the schema's masking; the view masks them."""
    settings = settings_for(env="production")
    schema = GatewaySchema(
        query=Query, mutation=Mutation, extensions=[*extensions.for_config(extension_config(settings)), BrokenExtension]
    )
    async with client_for(settings, database, schema=schema) as client:
        with caplog.at_level(logging.INFO, logger="dpor_gateway.graphql"):
            response = await client.post("/graphql", json={"query": "{ hello }"})
    [error] = response.json()["errors"]
    assert error == {
        "message": "Internal server error.",
        "extensions": {"code": "INTERNAL", "requestId": response.headers["x-request-id"]},
    }
    [record] = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert response.headers["x-request-id"] in record.getMessage()
    assert record.exc_info is not None and "hunter2" in str(record.exc_info[1])


async def test_errors_meant_for_the_caller_are_not_masked(production: httpx.AsyncClient) -> None:
    body = (await production.post("/graphql", json={"query": "{ items(first: 0) { totalCount } }"})).json()
    assert codes(body) == ["BAD_USER_INPUT"]
    assert "first" in body["errors"][0]["message"]


async def test_development_shows_unexpected_errors(development: httpx.AsyncClient) -> None:
    [error] = (await development.post("/graphql", json={"query": "{ boom }"})).json()["errors"]
    assert "hunter2" in error["message"]


async def test_mutations_over_get_are_refused(production: httpx.AsyncClient) -> None:
    response = await production.get("/graphql", params={"query": "mutation { touch }"})
    assert response.status_code == 405
    assert codes(response.json()) == ["METHOD_NOT_ALLOWED"]
    query = await production.get("/graphql", params={"query": "{ hello }"})
    assert query.json()["data"] == {"hello": "world"}
    mutation = await production.post("/graphql", json={"query": "mutation { touch }"})
    assert mutation.json()["data"] == {"touch": True}


async def test_no_graphiql(production: httpx.AsyncClient, development: httpx.AsyncClient) -> None:
    headers = {"accept": "text/html"}
    assert (await development.get("/graphql", headers=headers)).status_code == 200
    refused = await production.get("/graphql", headers=headers)
    assert refused.status_code == 404
    assert "graphiql" not in refused.text.lower()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
async def test_post_requires_json(production: httpx.AsyncClient, content_type: str) -> None:
    response = await production.post(
        "/graphql", content=b'{"query": "mutation { touch }"}', headers={"content-type": content_type}
    )
    assert response.status_code == 415
    assert codes(response.json()) == ["UNSUPPORTED_MEDIA_TYPE"]


async def test_cors_allows_only_configured_origins(production: httpx.AsyncClient) -> None:
    def preflight(origin: str) -> dict[str, Any]:
        return {
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,authorization",
        }

    allowed = await production.options("/graphql", headers=preflight("https://app.example"))
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    refused = await production.options("/graphql", headers=preflight("https://evil.example"))
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    simple = await production.post("/graphql", json={"query": "{ hello }"}, headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers
