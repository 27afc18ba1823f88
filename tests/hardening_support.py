"""A small Relay-shaped schema and an HTTP client for the hardening tests (limits, cost, rate limits...).

Connections take `first`/`after` and nest (items -> children), as the real API's do; every resolver that
returns data runs one SQL statement, so a test can tell "refused before execution" (no statement) from
"executed".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import strawberry
from sqlalchemy import text
from strawberry.types import Info

from auth.principal import Principal
from db.engine import Database
from gateway.app import create_app
from gateway.settings import Settings, load_settings
from gateway.wiring import extension_config
from resolvers.context import RequestContext
from schema import extensions
from schema.errors import GatewaySchema
from schema.extensions.rate_limit import RateLimitInfo, rate_limit_field


async def touch_database(info: Info[RequestContext, None]) -> None:
    async with info.context.database.read() as session:
        await session.execute(text("SELECT 1"))


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Item:
    id: strawberry.ID
    name: str

    @strawberry.field
    async def children(
        self, info: Info[RequestContext, None], first: int | None = None, after: str | None = None
    ) -> ItemConnection:
        return await connection(info, first or 0, prefix=f"{self.id}.")


@strawberry.type
class ItemEdge:
    cursor: str
    node: Item


@strawberry.type
class ItemConnection:
    edges: list[ItemEdge]
    page_info: PageInfo
    total_count: int


async def connection(info: Info[RequestContext, None], first: int, prefix: str = "") -> ItemConnection:
    await touch_database(info)
    items = [Item(id=strawberry.ID(f"{prefix}{n}"), name=f"item {n}") for n in range(first)]
    return ItemConnection(
        edges=[ItemEdge(cursor=item.id, node=item) for item in items],
        page_info=PageInfo(has_next_page=False, end_cursor=items[-1].id if items else None),
        total_count=len(items),
    )


@strawberry.type
class Query:
    rate_limit: RateLimitInfo | None = rate_limit_field

    @strawberry.field
    async def items(
        self, info: Info[RequestContext, None], first: int | None = None, after: str | None = None
    ) -> ItemConnection:
        return await connection(info, first or 0)

    @strawberry.field
    async def nodes(self, info: Info[RequestContext, None], ids: list[strawberry.ID]) -> list[Item | None]:
        await touch_database(info)
        return [Item(id=id_, name=f"item {id_}") for id_ in ids]

    @strawberry.field
    async def hello(self, info: Info[RequestContext, None]) -> str:
        await touch_database(info)
        return "world"

    @strawberry.field
    def secret_field(self) -> str:
        return "not for strangers"

    @strawberry.field
    async def slow(self, seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "done"

    @strawberry.field
    async def sleep_in_database(self, info: Info[RequestContext, None], seconds: float) -> str:
        async with info.context.database.read() as session:
            await session.execute(text("SELECT pg_sleep(:seconds)"), {"seconds": seconds})
        return "done"

    @strawberry.field
    def boom(self) -> str:
        raise RuntimeError("connection string postgresql://admin:hunter2@db leaked")


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def touch(self, info: Info[RequestContext, None]) -> bool:
        await touch_database(info)
        return True


# Production refuses to start without a token issuer; the test authenticator never contacts it.
PRODUCTION_AUTH = {
    "oauth_issuer": "https://issuer.test",
    "oauth_audience": "dpor-gateway",
    "oauth_jwks_url": "https://issuer.test/jwks",
}


def settings_for(**overrides: Any) -> Settings:
    # No webhook delivery worker in these apps' lifespans: its first pass would hold a pooled connection while a
    # test reads the pool's gauges (tests/service/test_webhook_delivery.py runs the worker in a lifespan of its
    # own; a lifespan's end no longer cuts a pass off mid-statement: tests/service/test_background.py).
    defaults: dict[str, Any] = {"database_url": "sqlite+aiosqlite:///:memory:", "webhook_delivery_interval_seconds": 0}
    if overrides.get("env") == "production":
        defaults |= PRODUCTION_AUTH
    return load_settings(**(defaults | overrides))


def schema_for(settings: Settings) -> strawberry.Schema:
    # The API's schema class, for its error logging (schema/errors.py).
    return GatewaySchema(query=Query, mutation=Mutation, extensions=extensions.for_config(extension_config(settings)))


def sqlite_database(directory: Path) -> Database:
    return Database.from_url(f"sqlite+aiosqlite:///{directory / 'hardening.sqlite3'}")


class TestAuthenticator:
    """Stands in for auth.authenticator.Authenticator: the bearer token is `<subject>:<client_id>`. These tests
    are about what happens after authentication; the real tokens are tested in tests/auth/test_auth_*.py."""

    realm = "dpor-gateway-test"

    async def authenticate(self, authorization: list[str]) -> Principal:
        from auth.rfc6750 import MissingCredentialsError

        if not authorization or not authorization[0].startswith("Bearer "):
            raise MissingCredentialsError()
        subject, _, client_id = authorization[0].removeprefix("Bearer ").partition(":")
        return Principal(subject=subject, client_id=client_id or None, scopes=frozenset(), roles=frozenset())

    async def aclose(self) -> None:
        return None


def as_caller(subject: str, client_id: str = "") -> dict[str, str]:
    return {"authorization": f"Bearer {subject}:{client_id}"}


@asynccontextmanager
async def client_for(
    settings: Settings, database: Database, *, schema: strawberry.Schema | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        settings,
        database,
        authenticator=TestAuthenticator(),  # type: ignore[arg-type]
        schema=schema or schema_for(settings),
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=as_caller("tester")) as client,
    ):
        yield client


def codes(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors") or []]
