"""The floor of the usage reads (2) tenant usage by month and service and (5) partner attributed usage by month,
and of (1)'s nested usage (`subscription_usage`): the gateway's statements, run with asyncpg, and the same `data`.

The statements are the gateway's by construction: resolvers.usage.plan picks them and their values for the
request's window, filter and caller exactly as the gateway does (it is the function the gateway calls), and
bench.floor_sql runs them as compiled once for asyncpg. The node lookups are the gateway's loader statement
(resolvers.queries.by_ids) under the caller's row filter. Only the caller-scope lookup is the floor's own, as in
bench.floor_scope.

The Python here is what the answer needs and nothing more: Decimal sums keyed as the gateway keys them (a group
left with no record is no row), and for partner rows the seconds each association was in effect on its first and
last day (a partially covered day counts in quantity and amount, a day it only touches at midnight does not).
Op (5)'s document does not select `attribution`, so the exact attributed fractions the gateway computes for
every row regardless are not computed here: that is part of the gap the ratio measures. Op (1)'s does need the
attributed amount, counted as the gateway counts it (micro-units times seconds, rounded half to even to the
currency's minor unit at the end): the helpers for that are the gateway's too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

from auth.policy import Entity
from auth.principal import Principal, Role
from auth.row_filters import UsageVisibility, usage_visibility, visibility
from auth.scope import CallerScope
from bench.floor_scope import SCOPE_PARTNER, SCOPE_TENANT, scope_id
from bench.floor_sql import compiled, fetch
from db.models import Partner, Tenant
from resolvers.global_id import decode_any
from resolvers.queries import by_ids
from resolvers.usage.aggregate_types import AggregateFilter, GroupBy
from resolvers.usage.attribution import DAY_SECONDS, seconds_active
from resolvers.usage.currencies import present
from resolvers.usage.plan import Plan, plan
from resolvers.usage.sums import UNITS_PER_WHOLE, micro

DIALECT = "postgresql"
TENANT_USAGE_GROUPS = (GroupBy.MONTH, GroupBy.SERVICE)
PARTNER_USAGE_GROUPS = (GroupBy.MONTH,)
_PLACEHOLDER = uuid.UUID(int=1)  # an id for statements compiled before any request: only shapes matter there


def caller(role: Role, *, tenant_id: uuid.UUID | None = None, partner_id: uuid.UUID | None = None) -> CallerScope:
    """The caller scope the gateway resolves for a token of one role naming this tenant or partner."""
    principal = Principal(subject="floor", client_id=None, scopes=frozenset(), roles=frozenset({role}))
    return CallerScope(principal, frozenset({role}), tenant_id, partner_id)


def _row_id(global_id: str, expected_type: str) -> uuid.UUID | None:
    type_name, row_id = decode_any(global_id)
    return row_id if type_name == expected_type else None


async def _visible(
    connection: asyncpg.Connection, model: type[Tenant | Partner], entity: Entity, scope: CallerScope, row: uuid.UUID
) -> bool:
    """Whether the row is the caller's to see: the gateway's loader statement for it."""
    visible = visibility(entity, scope)
    return bool(await fetch(connection, by_ids(model, visible.shape, DIALECT), {**visible.parameters, "ids": [row]}))


def _reach(scope: CallerScope, **row: uuid.UUID) -> UsageVisibility:
    found = usage_visibility(scope, **row)
    if found is None:
        raise ValueError(f"{scope.roles} reads no usage")
    return found


def _tenant_plan(scope: CallerScope, tenant_id: uuid.UUID, first: date, last: date) -> Plan | None:
    """Op (2) as the gateway's tenant usage loader reads it: a set of one tenant."""
    read = AggregateFilter(first, last, tenant_ids=frozenset({tenant_id}))
    return plan(read, TENANT_USAGE_GROUPS, DIALECT, _reach(scope, row_tenant_id=tenant_id))


def _partner_plan(scope: CallerScope, partner_id: uuid.UUID, first: date, last: date) -> Plan | None:
    """Op (5) as the gateway's partner usage loader reads it: a set of one partner."""
    read = AggregateFilter(first, last, partner_ids=frozenset({partner_id}))
    return plan(read, PARTNER_USAGE_GROUPS, DIALECT, _reach(scope, row_partner_id=partner_id))


def _subscriptions_plan(scope: CallerScope, ids: Iterable[uuid.UUID], first: date, last: date) -> Plan | None:
    """Op (1)'s nested usage as the gateway's subscription usage loader reads it: the page's subscriptions."""
    return plan(AggregateFilter(first, last, subscription_ids=frozenset(ids)), (), DIALECT, _reach(scope))


def prepare(twelve_months: tuple[date, date], current_month: tuple[date, date]) -> int:
    """Compile the statements of the benchmark's windows before any request; the number compiled."""
    owner = caller(Role.OWNER, tenant_id=_PLACEHOLDER)
    partner = caller(Role.PARTNER, partner_id=_PLACEHOLDER)
    plans = [
        _tenant_plan(owner, _PLACEHOLDER, *twelve_months),
        _partner_plan(partner, _PLACEHOLDER, *twelve_months),
        _subscriptions_plan(partner, [_PLACEHOLDER], *current_month),
    ]
    statements = [
        statement
        for found in plans
        if found is not None
        for statement in (*found.sums, found.boundary)
        if statement is not None
    ]
    for model, entity, scope in ((Tenant, Entity.TENANT, owner), (Partner, Entity.PARTNER, partner)):
        statements.append(by_ids(model, visibility(entity, scope).shape, DIALECT))
    statements.append(by_ids(Tenant, visibility(Entity.TENANT, partner).shape, DIALECT))  # op (1)'s tenants
    for statement in statements:
        compiled(statement)
    return len(statements)


def _add(sums: dict[tuple[Any, ...], list[Any]], key: tuple[Any, ...], row: asyncpg.Record) -> None:
    """Add a rollup or SUM row's quantity, amount and record count (negative for subtracted days) to `key`."""
    total = sums.get(key)
    if total is None:
        # Decimal(0) + x, as the gateway starts its sums: the same exponent, so the same rendering.
        sums[key] = [Decimal(0) + row["quantity"], Decimal(0) + row["amount"], int(row["record_count"])]
    else:
        total[0] += row["quantity"]
        total[1] += row["amount"]
        total[2] += int(row["record_count"])


async def _summed(connection: asyncpg.Connection, planned: Plan | None) -> list[asyncpg.Record]:
    """The rows of the plan's summing statements (none when no day of the window can hold usage)."""
    rows: list[asyncpg.Record] = []
    if planned is not None:
        for statement in planned.sums:
            rows += await fetch(connection, statement, planned.parameters)
    return rows


async def _partial_days(connection: asyncpg.Connection, planned: Plan | None) -> list[tuple[asyncpg.Record, int]]:
    """The rollup rows of the associations' first and last days that their association covers in part, each with
    its seconds: once per (rollup row, partner, type), two intervals touching the same day adding their seconds."""
    if planned is None or planned.boundary is None:
        return []
    shares: dict[tuple[Any, ...], list[Any]] = {}
    for row in await fetch(connection, planned.boundary, planned.parameters):
        seconds = seconds_active(row["usage_date"], row["valid_from"], row["valid_to"])
        if 0 < seconds < DAY_SECONDS:
            rollup = (row["subscription_id"], row["usage_date"], row["service_name"], row["currency"])
            shares.setdefault((*rollup, row["partner_id"], row["type"]), [row, 0])[1] += seconds
    return [(row, seconds) for row, seconds in shares.values()]


async def tenant_usage(connection: asyncpg.Connection, body: dict[str, Any]) -> dict[str, Any]:
    """`tenant(id:) { usage(from:, to:, groupBy: [MONTH, SERVICE]) { month service currency quantity amount } }`."""
    first, last = date.fromisoformat(body["from"]), date.fromisoformat(body["to"])
    tenant_id = _row_id(body["id"], "Tenant")
    owner = caller(Role.OWNER, tenant_id=await scope_id(connection, SCOPE_TENANT, uuid.UUID(body["tenantExternalId"])))
    if tenant_id is None or not await _visible(connection, Tenant, Entity.TENANT, owner, tenant_id):
        return {"tenant": None}
    sums: dict[tuple[Any, ...], list[Any]] = {}
    for row in await _summed(connection, _tenant_plan(owner, tenant_id, first, last)):
        _add(sums, (row["month"], row["service"], row["currency"]), row)
    usage = [
        {"month": month.isoformat(), "service": service, "currency": currency, "quantity": f"{q:f}", "amount": f"{a:f}"}
        for (month, service, currency), (q, a, records) in sorted(sums.items(), key=lambda item: _text_key(item[0]))
        if records  # as the gateway: a group left with no record (its days all outside the window) is no row
    ]
    return {"tenant": {"usage": usage}}


async def partner_usage(connection: asyncpg.Connection, body: dict[str, Any]) -> dict[str, Any]:
    """`node(id:) { ... on Partner { attributedUsage(from:, to:, groupBy: [MONTH]) { month currency quantity
    amount } } }`: rows per month, association type and currency, in the gateway's order."""
    first, last = date.fromisoformat(body["from"]), date.fromisoformat(body["to"])
    partner_id = _row_id(body["id"], "Partner")
    partner = caller(Role.PARTNER, partner_id=await scope_id(connection, SCOPE_PARTNER, body["partnerMpnId"]))
    if partner_id is None or not await _visible(connection, Partner, Entity.PARTNER, partner, partner_id):
        return {"node": None}
    planned = _partner_plan(partner, partner_id, first, last)
    sums: dict[tuple[Any, ...], list[Any]] = {}
    for row in await _summed(connection, planned):
        _add(sums, (row["month"], row["partner_id"], row["association_type"], row["currency"]), row)
    for row, _ in await _partial_days(connection, planned):
        _add(sums, (row["usage_date"].replace(day=1), row["partner_id"], row["type"], row["currency"]), row)
    usage = [
        {"month": month.isoformat(), "currency": currency, "quantity": f"{q:f}", "amount": f"{a:f}"}
        for (month, _, _, currency), (q, a, records) in sorted(sums.items(), key=lambda item: _text_key(item[0]))
        if records
    ]
    return {"node": {"attributedUsage": usage}}


async def subscription_usage(
    connection: asyncpg.Connection, partner_id: uuid.UUID, ids: list[uuid.UUID], first: date, last: date
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """`usage(from: first, to: last, groupBy: []) { currency attribution { amount } }` of each subscription in
    `ids` for the partner `partner_id`: rows per association type and currency, in the gateway's order."""
    planned = _subscriptions_plan(caller(Role.PARTNER, partner_id=partner_id), ids, first, last)
    # (subscription, partner, association type, currency) -> [attributed micro-units x seconds, record count]
    units: dict[tuple[Any, ...], list[int]] = {}
    for row in await _summed(connection, planned):
        total = units.setdefault(
            (row["subscription_id"], row["partner_id"], row["association_type"], row["currency"]), [0, 0]
        )
        total[0] += micro(row["amount"]) * DAY_SECONDS
        total[1] += int(row["record_count"])
    for row, seconds in await _partial_days(connection, planned):
        total = units.setdefault((row["subscription_id"], row["partner_id"], row["type"], row["currency"]), [0, 0])
        total[0] += micro(row["amount"]) * seconds
        total[1] += int(row["record_count"])
    usage: dict[uuid.UUID, list[dict[str, Any]]] = {subscription_id: [] for subscription_id in ids}
    for (subscription_id, _, _, currency), (amount, records) in sorted(units.items(), key=lambda i: _text_key(i[0])):
        if records:
            attributed = present(Fraction(amount, UNITS_PER_WHOLE), currency)
            usage[subscription_id].append({"currency": currency, "attribution": {"amount": f"{attributed:f}"}})
    return usage


def _text_key(key: tuple[Any, ...]) -> tuple[str, ...]:
    """The gateway orders rows by the text of their keys (dates in ISO form, ids as UUID text)."""
    return tuple(str(part) for part in key)
