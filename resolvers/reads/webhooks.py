"""`webhookEndpoints` and `webhookDeliveries`: a caller's own endpoints and their delivery logs (issue 15).

Both read under the caller's row filter of webhook endpoints (auth.policy READ[WEBHOOK_ENDPOINT]: a partner's own,
a tenant owner's tenant's), in SQL; an endpoint outside it is NOT_FOUND.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select

from auth.policy import Entity
from auth.row_filters import visibility
from auth.scope import CallerScope
from db.engine import Database
from db.webhook import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from resolvers.authorize import granted
from resolvers.errors import NotFound
from resolvers.pagination import Paging, SortKey, parse_uuid
from resolvers.reads.listing import Listing, list_rows

# The log newest first: by the event's sequence (one delivery per event and endpoint), then id.
DELIVERY_ORDER = SortKey("webhookDeliveries", (WebhookDelivery.sequence, WebhookDelivery.id), (int, parse_uuid), True)


async def list_webhook_endpoints(database: Database, scope: CallerScope) -> Sequence[WebhookEndpoint]:
    """Every endpoint the caller owns, oldest first (at most resolvers.webhooks.endpoints.MAX_ENDPOINTS_PER_OWNER
    per owner, so no paging)."""
    granted("webhookEndpoints", scope)
    visible = visibility(Entity.WEBHOOK_ENDPOINT, scope)
    statement = (
        select(WebhookEndpoint).where(visible.predicate).order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )
    async with database.read() as session:
        return (await session.scalars(statement, dict(visible.parameters))).all()


async def list_webhook_deliveries(
    database: Database,
    scope: CallerScope,
    endpoint_id: uuid.UUID,
    status: DeliveryStatus | None,
    paging: Paging,
) -> Listing[WebhookDelivery]:
    granted("webhookDeliveries", scope)
    visible = visibility(Entity.WEBHOOK_ENDPOINT, scope)
    async with database.read() as session:
        found = await session.scalar(
            select(WebhookEndpoint.id).where(WebhookEndpoint.id == endpoint_id, visible.predicate),
            dict(visible.parameters),
        )
    if found is None:
        raise NotFound("webhook endpoint")
    statement = (
        select(WebhookDelivery)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
    )
    if status is not None:
        statement = statement.where(WebhookDelivery.status == status)
    return await list_rows(database, statement, visible=visible, key=DELIVERY_ORDER, paging=paging)
