"""Webhook endpoints (issue 15): a partner's, told of its own events, or a tenant's, told of its tenant's.

The caller's acting role decides whose endpoint it creates (auth.policy role preference: a token holding OWNER and
PARTNER creates its tenant's). Every other operation reaches only the caller's own endpoints; any other endpoint is
NOT_FOUND, exactly like one that does not exist. The signing secret (Standard Webhooks: `whsec_` and the base64 of
32 random bytes) is returned by createWebhookEndpoint and rotateWebhookSecret only, once; a rotation takes effect
for every delivery attempt from then on (retries of older events included: receivers verify with the current one).

Each mutation runs in the caller's write transaction and writes its audit event (never the secret).
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.policy import ROLE_PREFERENCE, RowFilter, reach_covers_owner
from auth.principal import Role
from auth.scope import CallerScope
from db.base import new_id, utcnow
from db.webhook import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from resolvers import audit, global_id
from resolvers.authorize import Actor, granted
from resolvers.change_events import EVENT_TYPES
from resolvers.errors import BadUserInput, NotFound
from resolvers.webhooks.addresses import checked_url

MAX_ENDPOINTS_PER_OWNER = 20
MAX_DESCRIPTION = 500
SECRET_PREFIX = "whsec_"
_WHAT = "webhook endpoint"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def event_types(values: Sequence[str], field: str = "eventTypes") -> list[str]:
    """1 or more of resolvers.change_events.EVENT_TYPES, each once; sorted."""
    if not values:
        raise BadUserInput(f"{field} must name at least one event type", field=field)
    unknown = sorted(set(values) - set(EVENT_TYPES))
    if unknown:
        raise BadUserInput(
            f"{field}: unknown event type {unknown[0]!r}", field=field, known=sorted(EVENT_TYPES), unknown=unknown
        )
    return sorted(set(values))


def description(value: str | None, field: str = "description") -> str | None:
    if value is not None and (len(value) > MAX_DESCRIPTION or "\x00" in value):
        raise BadUserInput(f"{field} must be at most {MAX_DESCRIPTION} characters, without NUL", field=field)
    return value


def _actor(scope: CallerScope, role: Role, request_id: str) -> Actor:
    return Actor(scope.principal.subject, scope.principal.client_id, role, request_id)


def reaching_role(operation: str, scope: CallerScope, endpoint: WebhookEndpoint) -> Role | None:
    """The held role whose grant of `operation` reaches this endpoint (FORBIDDEN before, when none is held)."""
    held = granted(operation, scope)
    for role in ROLE_PREFERENCE:
        grant = held.get(role)
        if grant is not None and reach_covers_owner(
            grant.reach,
            caller_tenant_id=scope.tenant_id,
            caller_partner_id=scope.partner_id,
            row_tenant_id=endpoint.tenant_id,
            row_partner_id=endpoint.partner_id,
        ):
            return role
    return None


def _audited(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "endpointId": global_id.encode("WebhookEndpoint", endpoint.id),
        "url": endpoint.url,
        "eventTypes": list(endpoint.event_types),
        "description": endpoint.description,
        "enabled": endpoint.enabled,
    }


def _record(
    session: AsyncSession,
    actor: Actor,
    operation: str,
    endpoint: WebhookEndpoint,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    audit.record(
        session,
        actor,
        operation,
        target_type="WebhookEndpoint",
        target_id=endpoint.id,
        tenant_id=endpoint.tenant_id,
        before=before,
        after=after,
    )


@dataclass(frozen=True)
class WithSecret:
    """An endpoint and, this once, its signing secret."""

    endpoint: WebhookEndpoint
    secret: str


@dataclass(frozen=True)
class CreateEndpointArgs:
    url: str
    event_types: list[str]
    description: str | None
    # DPOR_WEBHOOK_ALLOW_PRIVATE_ADDRESSES (a setting, not part of the request).
    allow_private: bool = False


async def create_webhook_endpoint(
    session: AsyncSession, scope: CallerScope, request_id: str, args: CreateEndpointArgs
) -> WithSecret:
    operation = "createWebhookEndpoint"
    held = granted(operation, scope)
    owner: tuple[Role, uuid.UUID | None, uuid.UUID | None] | None = None
    for role in ROLE_PREFERENCE:
        grant = held.get(role)
        if grant is None:
            continue
        if grant.reach is RowFilter.OWN_TENANT and scope.tenant_id is not None:
            owner = (role, scope.tenant_id, None)
        elif grant.reach is RowFilter.OWN_PARTNER and scope.partner_id is not None:
            owner = (role, None, scope.partner_id)
        if owner is not None:
            break
    if owner is None:  # the token names a tenant or partner the gateway does not know
        raise NotFound("tenant or partner")
    role, tenant_id, partner_id = owner
    url = checked_url(args.url, allow_private=args.allow_private)
    mine = WebhookEndpoint.tenant_id == tenant_id if tenant_id is not None else WebhookEndpoint.partner_id == partner_id
    count = await session.scalar(select(func.count()).select_from(WebhookEndpoint).where(mine))
    if (count or 0) >= MAX_ENDPOINTS_PER_OWNER:
        raise BadUserInput(
            f"at most {MAX_ENDPOINTS_PER_OWNER} webhook endpoints per owner",
            field="url",
            maximum=MAX_ENDPOINTS_PER_OWNER,
        )
    now = utcnow()
    endpoint = WebhookEndpoint(
        id=new_id(),
        tenant_id=tenant_id,
        partner_id=partner_id,
        url=url,
        event_types=args.event_types,
        description=args.description,
        secret=new_secret(),
        enabled=True,
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    await session.flush()
    _record(session, _actor(scope, role, request_id), operation, endpoint, None, _audited(endpoint))
    return WithSecret(endpoint, endpoint.secret)


async def _reached(
    session: AsyncSession, scope: CallerScope, request_id: str, operation: str, endpoint_id: uuid.UUID
) -> tuple[WebhookEndpoint, Actor]:
    granted(operation, scope)  # FORBIDDEN before any lookup
    endpoint = await session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).with_for_update())
    role = reaching_role(operation, scope, endpoint) if endpoint is not None else None
    if endpoint is None or role is None:
        raise NotFound(_WHAT)
    return endpoint, _actor(scope, role, request_id)


@dataclass(frozen=True)
class UpdateEndpointArgs:
    endpoint_id: uuid.UUID
    url: str | None = None
    event_types: list[str] | None = None
    description: str | None = None
    enabled: bool | None = None
    allow_private: bool = False


async def update_webhook_endpoint(
    session: AsyncSession, scope: CallerScope, request_id: str, args: UpdateEndpointArgs
) -> WebhookEndpoint:
    operation = "updateWebhookEndpoint"
    endpoint, actor = await _reached(session, scope, request_id, operation, args.endpoint_id)
    before = _audited(endpoint)
    if args.url is not None:
        endpoint.url = checked_url(args.url, allow_private=args.allow_private)
    if args.event_types is not None:
        endpoint.event_types = args.event_types
    if args.description is not None:
        endpoint.description = args.description or None
    if args.enabled is not None:
        endpoint.enabled = args.enabled
    endpoint.updated_at = utcnow()
    _record(session, actor, operation, endpoint, before, _audited(endpoint))
    await session.flush()
    return endpoint


@dataclass(frozen=True)
class EndpointArgs:
    endpoint_id: uuid.UUID


async def disable_webhook_endpoint(
    session: AsyncSession, scope: CallerScope, request_id: str, args: EndpointArgs
) -> WebhookEndpoint:
    """Nothing more is sent to it, and no new event is queued for it, until it is enabled again
    (updateWebhookEndpoint); what was queued waits."""
    operation = "disableWebhookEndpoint"
    endpoint, actor = await _reached(session, scope, request_id, operation, args.endpoint_id)
    before = _audited(endpoint)
    endpoint.enabled = False
    endpoint.updated_at = utcnow()
    _record(session, actor, operation, endpoint, before, _audited(endpoint))
    await session.flush()
    return endpoint


async def rotate_webhook_secret(
    session: AsyncSession, scope: CallerScope, request_id: str, args: EndpointArgs
) -> WithSecret:
    operation = "rotateWebhookSecret"
    endpoint, actor = await _reached(session, scope, request_id, operation, args.endpoint_id)
    endpoint.secret = new_secret()
    endpoint.updated_at = utcnow()
    _record(session, actor, operation, endpoint, None, {"secretRotated": True})
    await session.flush()
    return WithSecret(endpoint, endpoint.secret)


async def delete_webhook_endpoint(
    session: AsyncSession, scope: CallerScope, request_id: str, args: EndpointArgs
) -> uuid.UUID:
    """The endpoint and its delivery log are deleted; what was queued for it is never sent."""
    operation = "deleteWebhookEndpoint"
    endpoint, actor = await _reached(session, scope, request_id, operation, args.endpoint_id)
    _record(session, actor, operation, endpoint, _audited(endpoint), None)
    await session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    await session.delete(endpoint)
    await session.flush()
    return endpoint.id


@dataclass(frozen=True)
class RedeliverArgs:
    delivery_id: uuid.UUID


async def redeliver_webhook(
    session: AsyncSession, scope: CallerScope, request_id: str, args: RedeliverArgs
) -> WebhookDelivery:
    """The delivery is PENDING again with a fresh retry schedule, the same webhook-id and body: it goes out at
    its place in its endpoint's order (before any later event still pending there), whatever its status was."""
    operation = "redeliverWebhook"
    granted(operation, scope)
    delivery = await session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.id == args.delivery_id).with_for_update()
    )
    if delivery is None:
        raise NotFound("webhook delivery")
    try:
        endpoint, actor = await _reached(session, scope, request_id, operation, delivery.endpoint_id)
    except NotFound:
        raise NotFound("webhook delivery") from None
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    delivery.leased_until = None
    _record(
        session,
        actor,
        operation,
        endpoint,
        None,
        {"deliveryId": global_id.encode("WebhookDelivery", delivery.id), "eventType": delivery.event_type},
    )
    await session.flush()
    return delivery
