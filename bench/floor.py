"""The floor: the SQL the gateway sends for each benchmarked read, run directly with asyncpg from a bare
Starlette app, answering the same JSON.

It is what the operation costs with no GraphQL, no ORM and no policy layer: the ratio gateway/floor is the
price of those layers. Run with `uvicorn bench.floor:create_app --factory` (same server and worker count as
the gateway). It does not validate the bearer token (the gateway caches verified tokens, so validation costs it
one dict lookup per request after the first); the partner or tenant comes from the request body instead.

The statements mirror the gateway's (captured with DPOR_DB_ECHO=true on the same dataset): the same tables,
predicates, ordering and page size, including the caller-scope lookup (remembered after the first time, as the
gateway remembers it: bench.floor_scope) and the totalCount query, so the floor does the database work the gateway
does and nothing else. They run on one pooled connection without an explicit
transaction (autocommit, like each of the gateway's read-only units of work). The usage reads' statements
and the arithmetic their answers need are in bench.floor_usage.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench import floor_usage
from bench.floor_scope import SCOPE_PARTNER, SCOPE_TENANT, scope_id

DATABASE_URL_VARIABLE = "DPOR_BENCH_FLOOR_DATABASE_URL"
POOL_SIZE_VARIABLE = "DPOR_BENCH_FLOOR_POOL_SIZE"

ATTRIBUTED_PAGE = """
SELECT s.id, s.display_name, s.status, s.created_at, s.tenant_id FROM subscriptions s
WHERE s.id IN (SELECT a.subscription_id FROM partner_associations a WHERE a.partner_id = $1)
ORDER BY s.created_at, s.id LIMIT $2
"""
ATTRIBUTED_COUNT = """
SELECT count(*) FROM subscriptions s
WHERE s.id IN (SELECT a.subscription_id FROM partner_associations a WHERE a.partner_id = $1)
"""
ATTRIBUTED_ASSOCIATIONS = """
SELECT a.subscription_id, a.type, a.valid_from, a.valid_to FROM partner_associations a
WHERE a.subscription_id = ANY($2::uuid[]) AND a.partner_id = $1 ORDER BY a.valid_from, a.id
"""
ATTRIBUTED_TENANTS = "SELECT t.id, t.display_name FROM tenants t WHERE t.id = ANY($1::uuid[])"

NODE_SUBSCRIPTION = """
SELECT s.id, s.display_name, s.status, s.version FROM subscriptions s WHERE s.id = $1 AND s.tenant_id = $2
"""
NODE_DPOR = """
SELECT a.valid_from, p.id, p.name, p.mpn_id FROM partner_associations a JOIN partners p ON p.id = a.partner_id
WHERE a.subscription_id = $1 AND a.type = 'DIGITAL_PARTNER_OF_RECORD' AND a.valid_to IS NULL
"""


def _global_id(type_name: str, row_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{row_id.hex}".encode()).decode().rstrip("=")


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    payload = orjson.dumps(["subscriptions", [created_at.isoformat(), row_id.hex]])
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def _json(data: dict[str, Any]) -> Response:
    return Response(orjson.dumps({"data": data}), media_type="application/json")


async def attributed_subscriptions(request: Request) -> Response:
    body = orjson.loads(await request.body())
    first = int(body["first"])
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as connection:
        partner_id = await scope_id(connection, SCOPE_PARTNER, body["partnerMpnId"])
        rows = await connection.fetch(ATTRIBUTED_PAGE, partner_id, first + 1)
        total = await connection.fetchval(ATTRIBUTED_COUNT, partner_id)
        page = rows[:first]
        ids = [row["id"] for row in page]
        associations = await connection.fetch(ATTRIBUTED_ASSOCIATIONS, partner_id, ids)
        tenants = dict(await connection.fetch(ATTRIBUTED_TENANTS, list({row["tenant_id"] for row in page})))
    by_subscription: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for association in associations:
        by_subscription.setdefault(association["subscription_id"], []).append(
            {
                "type": association["type"],
                "validFrom": _instant(association["valid_from"]),
                "validTo": _instant(association["valid_to"]),
            }
        )
    edges = [
        {
            "node": {
                "id": _global_id("Subscription", row["id"]),
                "displayName": row["display_name"],
                "status": row["status"],
                "tenant": {"displayName": tenants[row["tenant_id"]]},
            },
            "associations": by_subscription.get(row["id"], []),
        }
        for row in page
    ]
    end_cursor = _cursor(page[-1]["created_at"], page[-1]["id"]) if page else None
    return _json(
        {
            "attributedSubscriptions": {
                "totalCount": total,
                "pageInfo": {"hasNextPage": len(rows) > first, "endCursor": end_cursor},
                "edges": edges,
            }
        }
    )


async def subscription_node(request: Request) -> Response:
    body = orjson.loads(await request.body())
    type_name, _, hex_id = base64.urlsafe_b64decode(body["id"] + "=" * (-len(body["id"]) % 4)).decode().partition(":")
    if type_name != "Subscription":
        return _json({"node": None})
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as connection:
        tenant_id = await scope_id(connection, SCOPE_TENANT, uuid.UUID(body["tenantExternalId"]))
        row = await connection.fetchrow(NODE_SUBSCRIPTION, uuid.UUID(hex=hex_id), tenant_id)
        dpor = None if row is None else await connection.fetchrow(NODE_DPOR, row["id"])
    if row is None:
        return _json({"node": None})
    return _json(
        {
            "node": {
                "id": body["id"],
                "displayName": row["display_name"],
                "status": row["status"],
                "version": row["version"],
                "digitalPartnerOfRecord": None
                if dpor is None
                else {
                    "validFrom": _instant(dpor["valid_from"]),
                    "partner": {"id": _global_id("Partner", dpor["id"]), "name": dpor["name"], "mpnId": dpor["mpn_id"]},
                },
            }
        }
    )


async def tenant_usage(request: Request) -> Response:
    body = orjson.loads(await request.body())
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as connection:
        return _json(await floor_usage.tenant_usage(connection, body))


async def partner_usage(request: Request) -> Response:
    body = orjson.loads(await request.body())
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as connection:
        return _json(await floor_usage.partner_usage(connection, body))


async def healthz(_request: Request) -> Response:
    return Response(b"ok")


def create_app() -> Starlette:
    url = os.environ[DATABASE_URL_VARIABLE]
    pool_size = int(os.environ.get(POOL_SIZE_VARIABLE, "10"))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Same pool size as the gateway's (DPOR_DB_POOL_SIZE): neither side gets more connections.
        async with asyncpg.create_pool(url, min_size=pool_size, max_size=pool_size) as pool:
            app.state.pool = pool
            yield

    return Starlette(
        routes=[
            Route("/attributed-subscriptions", attributed_subscriptions, methods=["POST"]),
            Route("/subscription-node", subscription_node, methods=["POST"]),
            Route("/tenant-usage", tenant_usage, methods=["POST"]),
            Route("/partner-usage", partner_usage, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
