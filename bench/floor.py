"""The floor: the SQL the gateway sends for each benchmarked read, run directly with asyncpg from a bare
Starlette app, answering the same JSON.

It is what the operation costs with no GraphQL, no ORM and no policy layer: the ratio gateway/floor is the
price of those layers. Run with `uvicorn bench.floor:create_app --factory` (same server and worker count as
the gateway). It does not validate the bearer token (the gateway caches verified tokens, so validation costs it
one dict lookup per request after the first); the partner or tenant comes from the request body instead.

The floor does the database work the gateway does and nothing else: the same statements, including the
caller-scope lookup (remembered after the first time, as the gateway remembers it: bench.floor_scope) and the
totalCount query, on one pooled connection without an explicit transaction (autocommit, like each of the gateway's
read-only units of work). The usage reads, op (1)'s nested usage and the loaders' lookups by id are the gateway's
own statement objects compiled for asyncpg (bench.floor_sql, bench.floor_usage; compiled at start-up). Op (1)'s
page, count and association statements are still text taken from the gateway's log: the gateway builds them
inside its resolver (schema/attributed.py), with no builder to call.
"""

from __future__ import annotations

import base64
import os
import re
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

from auth.policy import Entity
from auth.principal import Role
from auth.row_filters import visibility
from bench import floor_usage, operations
from bench.floor_scope import SCOPE_PARTNER, SCOPE_TENANT, scope_id
from bench.floor_sql import fetch
from db.models import Tenant
from resolvers.global_id import decode_any, encode
from resolvers.queries import by_ids

DATABASE_URL_VARIABLE = "DPOR_BENCH_FLOOR_DATABASE_URL"
POOL_SIZE_VARIABLE = "DPOR_BENCH_FLOOR_POOL_SIZE"

# (1) Captured from the gateway at 8b359e0 (schema/attributed.py), 2026-11-30: the page (with the partner's association
# condition and the caller's row filter, both the partner's id), its count, and the page's association rows naming
# the partner. The tenants come through the gateway's tenant loader statement (resolvers.queries.by_ids).
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
# The page's ids, one parameter each: a template for `expand`.
ATTRIBUTED_ASSOCIATIONS = """
SELECT partner_associations.id, partner_associations.subscription_id, partner_associations.partner_id,
partner_associations.type, partner_associations.valid_from, partner_associations.valid_to,
partner_associations.created_by, partner_associations.ended_by, partner_associations.created_by_role,
partner_associations.created_by_client_id, partner_associations.ended_by_role, partner_associations.ended_by_client_id,
partner_associations.end_reason
FROM partner_associations
WHERE partner_associations.subscription_id IN ({ids:3:0}) AND partner_associations.partner_id = $1::UUID
AND partner_associations.partner_id = $2::UUID ORDER BY partner_associations.valid_from, partner_associations.id
"""
_ID_LIST = re.compile(r"\{ids:(\d+):(\d+)\}")


def expand(template: str, count: int) -> str:
    """A statement with its `{ids:B:K}` lists written out for `count` ids: $(B + K*count) and the next ones, as
    SQLAlchemy numbers the parameters of an `IN` list of literal values."""

    def placeholders(match: re.Match[str]) -> str:
        start = int(match[1]) + int(match[2]) * count
        return ", ".join(f"${number}::UUID" for number in range(start, start + count))

    return _ID_LIST.sub(placeholders, template)


NODE_SUBSCRIPTION = """
SELECT s.id, s.display_name, s.status, s.version FROM subscriptions s WHERE s.id = $1 AND s.tenant_id = $2
"""
NODE_DPOR = """
SELECT a.valid_from, p.id, p.name, p.mpn_id FROM partner_associations a JOIN partners p ON p.id = a.partner_id
WHERE a.subscription_id = $1 AND a.type = 'DIGITAL_PARTNER_OF_RECORD' AND a.valid_to IS NULL
"""


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
        statement = expand(ATTRIBUTED_ASSOCIATIONS, len(ids))
        associations = await connection.fetch(statement, partner_id, partner_id, *ids)
        visible = visibility(Entity.TENANT, floor_usage.caller(Role.PARTNER, partner_id=partner_id))
        tenant_ids = list(dict.fromkeys(row["tenant_id"] for row in page))
        found = await fetch(
            connection, by_ids(Tenant, visible.shape, floor_usage.DIALECT), {**visible.parameters, "ids": tenant_ids}
        )
        tenants = {row["id"]: row["display_name"] for row in found}
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
                "id": encode("Subscription", row["id"]),
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
    type_name, row_id = decode_any(body["id"])
    if type_name != "Subscription":
        return _json({"node": None})
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as connection:
        tenant_id = await scope_id(connection, SCOPE_TENANT, uuid.UUID(body["tenantExternalId"]))
        row = await connection.fetchrow(NODE_SUBSCRIPTION, row_id, tenant_id)
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
                    "partner": {"id": encode("Partner", dpor["id"]), "name": dpor["name"], "mpnId": dpor["mpn_id"]},
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


def _days(window: tuple[str, str]) -> tuple[date, date]:
    return date.fromisoformat(window[0]), date.fromisoformat(window[1])


def create_app() -> Starlette:
    url = os.environ[DATABASE_URL_VARIABLE]
    pool_size = int(os.environ.get(POOL_SIZE_VARIABLE, "10"))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The gateway's statements for today's windows, compiled before the first request.
        floor_usage.prepare(_days(operations.twelve_months()), _days(operations.current_month()))
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
