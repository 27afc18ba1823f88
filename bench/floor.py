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
and the arithmetic their answers need are in bench.floor_usage, as are those of op (1)'s nested usage. Op (1)'s own
statements are the gateway's text, parameter for parameter (bench.capture checks them too).
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
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

# (1) Captured from the gateway at 8b359e0 (schema/attributed.py, resolvers/loaders.py), 2026-11-30: the page (with
# the partner's association condition and the caller's row filter, both the partner's id), its count, the page's
# association rows naming the partner, and the tenants (through the tenant loader, with the caller's row filter).
ATTRIBUTED_PAGE = """
SELECT subscriptions.id, subscriptions.external_id, subscriptions.tenant_id, subscriptions.offer,
subscriptions.display_name, subscriptions.status, subscriptions.created_at, subscriptions.version,
subscriptions.usage_data_as_of
FROM subscriptions
WHERE subscriptions.id IN (SELECT partner_associations.subscription_id
FROM partner_associations
WHERE partner_associations.partner_id = $1::UUID AND partner_associations.partner_id = $2::UUID)
AND subscriptions.id IN (SELECT partner_associations.subscription_id
FROM partner_associations
WHERE partner_associations.partner_id = $2::UUID) ORDER BY subscriptions.created_at ASC, subscriptions.id ASC
LIMIT $3::INTEGER
"""
ATTRIBUTED_COUNT = """
SELECT count(*) AS count_1
FROM (SELECT subscriptions.id AS id, subscriptions.external_id AS external_id, subscriptions.tenant_id AS tenant_id,
subscriptions.offer AS offer, subscriptions.display_name AS display_name, subscriptions.status AS status,
subscriptions.created_at AS created_at, subscriptions.version AS version,
subscriptions.usage_data_as_of AS usage_data_as_of
FROM subscriptions
WHERE subscriptions.id IN (SELECT partner_associations.subscription_id
FROM partner_associations
WHERE partner_associations.partner_id = $1::UUID AND partner_associations.partner_id = $2::UUID)
AND subscriptions.id IN (SELECT partner_associations.subscription_id
FROM partner_associations
WHERE partner_associations.partner_id = $2::UUID)) AS anon_1
"""
# The page's ids, one parameter each: a template for floor_usage.expand.
ATTRIBUTED_ASSOCIATIONS = """
SELECT partner_associations.id, partner_associations.subscription_id, partner_associations.partner_id,
partner_associations.type, partner_associations.valid_from, partner_associations.valid_to,
partner_associations.created_by, partner_associations.ended_by, partner_associations.end_reason
FROM partner_associations
WHERE partner_associations.subscription_id IN ({ids:3:0}) AND partner_associations.partner_id = $1::UUID
AND partner_associations.partner_id = $2::UUID ORDER BY partner_associations.valid_from, partner_associations.id
"""
ATTRIBUTED_TENANTS = """
SELECT tenants.id, tenants.external_id, tenants.display_name, tenants.primary_domain, tenants.country_code,
tenants.status, tenants.created_at, tenants.updated_at
FROM tenants
WHERE tenants.id = ANY ($1::UUID[]) AND tenants.id IN (SELECT subscriptions.tenant_id
FROM subscriptions
WHERE subscriptions.id IN (SELECT partner_associations.subscription_id
FROM partner_associations
WHERE partner_associations.partner_id = $2::UUID))
"""


def attributed_mirrored(first: date, last: date) -> dict[str, str]:
    """Op (1)'s statements for a usage window [first, last], for bench.capture's comparison with the gateway's log."""
    page = {
        "ATTRIBUTED_PAGE": ATTRIBUTED_PAGE,
        "ATTRIBUTED_COUNT": ATTRIBUTED_COUNT,
        "ATTRIBUTED_ASSOCIATIONS": ATTRIBUTED_ASSOCIATIONS,
        "ATTRIBUTED_TENANTS": ATTRIBUTED_TENANTS,
    }
    return {**page, **floor_usage.subscriptions_mirrored(first, last)}


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
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as connection:
        return _json(await attributed_data(connection, body))


async def attributed_data(connection: asyncpg.Connection, body: dict[str, Any]) -> dict[str, Any]:
    """Op (1)'s `data` for the partner `partnerMpnId`, page size `first`, usage window [monthStart, today]."""
    first = int(body["first"])
    month_start, today = date.fromisoformat(body["monthStart"]), date.fromisoformat(body["today"])
    partner_id = await scope_id(connection, SCOPE_PARTNER, body["partnerMpnId"])
    rows = await connection.fetch(ATTRIBUTED_PAGE, partner_id, partner_id, first + 1)
    total = await connection.fetchval(ATTRIBUTED_COUNT, partner_id, partner_id)
    page = rows[:first]
    ids = [row["id"] for row in page]
    associations, tenants, usage = [], {}, {}
    if ids:
        statement = floor_usage.expand(ATTRIBUTED_ASSOCIATIONS, len(ids))
        associations = await connection.fetch(statement, partner_id, partner_id, *ids)
        tenant_ids = list(dict.fromkeys(row["tenant_id"] for row in page))
        tenants = {
            row["id"]: row["display_name"] for row in await connection.fetch(ATTRIBUTED_TENANTS, tenant_ids, partner_id)
        }
        usage = await floor_usage.subscription_usage(connection, partner_id, ids, month_start, today)
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
                "usage": usage[row["id"]],
            },
            "associations": by_subscription.get(row["id"], []),
        }
        for row in page
    ]
    end_cursor = _cursor(page[-1]["created_at"], page[-1]["id"]) if page else None
    return {
        "attributedSubscriptions": {
            "totalCount": total,
            "pageInfo": {"hasNextPage": len(rows) > first, "endCursor": end_cursor},
            "edges": edges,
        }
    }


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
