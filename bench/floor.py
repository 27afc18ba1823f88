"""The floor: the SQL the gateway sends for each benchmarked read, run directly with asyncpg from a bare
Starlette app, answering the same JSON.

It is what the operation costs with no GraphQL, no ORM and no policy layer: the ratio gateway/floor is the
price of those layers. Run with `uvicorn bench.floor:create_app --factory` (same server and worker count as
the gateway). It does not validate the bearer token (the gateway caches verified tokens, so validation costs it
one dict lookup per request after the first); the partner or tenant comes from the request body instead.

The floor does the database work the gateway does and nothing else: the same statements, including the
caller-scope lookup (remembered after the first time, as the gateway remembers it: bench.floor_scope) and the
totalCount query, on one pooled connection without an explicit transaction (autocommit, like each of the gateway's
read-only units of work). Every statement but the caller-scope lookup and op (3)'s two lookups (see
NODE_SUBSCRIPTION) is one of the gateway's own statement objects, from the builders the gateway calls
(resolvers.reads.attributed, resolvers.queries, resolvers.usage.plan via bench.floor_usage), compiled for asyncpg
once at start-up (bench.floor_sql): no SQL text here is copied from the gateway.
"""

from __future__ import annotations

import base64
import functools
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
import orjson
from sqlalchemy import Select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from auth.policy import Entity
from auth.principal import Role
from auth.row_filters import parameters, visibility
from bench import floor_usage, operations
from bench.floor_scope import SCOPE_PARTNER, SCOPE_TENANT, scope_id
from bench.floor_sql import compiled, fetch
from resolvers.global_id import decode_any, encode
from resolvers.queries import IDS, PAGE_LIMIT
from resolvers.reads.attributed import PARTNER_ID, TOTAL, AssociationFilter, first_page_statements

DATABASE_URL_VARIABLE = "DPOR_BENCH_FLOOR_DATABASE_URL"
POOL_SIZE_VARIABLE = "DPOR_BENCH_FLOOR_POOL_SIZE"

_PLACEHOLDER = uuid.UUID(int=1)  # the caller's id while building: only the statements' shapes depend on the caller


@dataclass(frozen=True, slots=True)
class _Attributed:
    """Op (1)'s statements, as resolvers.reads.attributed builds them for a partner reading its own first page: the
    page with each subscription's tenant and the count of all (one statement), and the page's associations."""

    page: Select[Any]
    associations: Select[Any]


# The page statement's column of the tenant's display name (the subscription's own comes first, unlabelled).
_TENANT_NAME = "display_name_1"


@functools.cache
def _attributed() -> _Attributed:
    partner = floor_usage.caller(Role.PARTNER, partner_id=_PLACEHOLDER)
    page, associations = first_page_statements(
        AssociationFilter(),
        visibility(Entity.PARTNER_ASSOCIATION, partner).shape,
        visibility(Entity.SUBSCRIPTION, partner).shape,
        visibility(Entity.TENANT, partner).shape,
        floor_usage.DIALECT,
    )
    return _Attributed(page, associations)


def prepare() -> int:
    """Compile op (1)'s statements before any request; the number compiled."""
    attributed = _attributed()
    statements = [attributed.page, attributed.associations]
    for statement in statements:
        compiled(statement)
    return len(statements)


# (3) The floor's own: the gateway answers op (3) with one statement compiled from the whole document
# (resolvers/compiled), not from a builder this floor could call; these are the two indexed lookups it needs.
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
    statements = _attributed()
    # The caller's row filters' values and the partner read: the same partner here.
    values = {**parameters(floor_usage.caller(Role.PARTNER, partner_id=partner_id)), PARTNER_ID: partner_id}
    rows = await fetch(connection, statements.page, {**values, PAGE_LIMIT: first + 1})
    total = rows[0][TOTAL] if rows else 0
    page = rows[:first]
    ids = [row["id"] for row in page]
    associations, usage = [], {}
    if ids:
        associations = await fetch(connection, statements.associations, {**values, IDS: ids})
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
                "tenant": {"displayName": row[_TENANT_NAME]},
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
        prepare()
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
