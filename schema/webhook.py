"""Webhook endpoints and their delivery logs as the API shows them to their owner, and their queries (issue 15)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from db.webhook import DeliveryStatus
from db.webhook import WebhookDelivery as DeliveryRow
from db.webhook import WebhookEndpoint as EndpointRow
from resolvers.caller import caller_scope
from resolvers.change_events import EVENT_TYPES
from resolvers.context import RequestContext
from resolvers.reads.webhooks import list_webhook_deliveries, list_webhook_endpoints
from resolvers.webhooks.delivery import message_id
from schema import global_id
from schema.arguments import After, First, paging
from schema.mutations.common import GUARDED
from schema.node import Connection, connection
from schema.scalars import BigInt

EVENT_TYPE_LIST = ", ".join(f"`{name}`" for name in EVENT_TYPES)


@strawberry.enum(description="Where a delivery is: waiting or retrying (PENDING), done (DELIVERED), given up (DEAD).")
class WebhookDeliveryStatus(enum.Enum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    DEAD = "DEAD"


@strawberry.type(
    description="A webhook endpoint: where the gateway POSTs the change events its owner may see, signed per the"
    " Standard Webhooks specification with the endpoint's secret. Readable by its owner only (the partner, or the"
    " tenant's OWNER)."
)
class WebhookEndpoint:
    id: strawberry.ID = strawberry.field(description="Global ID.")
    url: str = strawberry.field(description="Where deliveries are POSTed.")
    event_types: list[str] = strawberry.field(description=f"The event types it is sent, of: {EVENT_TYPE_LIST}.")
    description: str | None = strawberry.field(description="The owner's note.")
    enabled: bool = strawberry.field(description="False: nothing is sent, nor queued for it, until enabled again.")
    owner_partner_id: strawberry.ID | None = strawberry.field(description="The partner it belongs to, if a partner's.")
    owner_tenant_id: strawberry.ID | None = strawberry.field(description="The tenant it belongs to, if a tenant's.")
    created_at: datetime = strawberry.field(description="When it was created (UTC).")
    updated_at: datetime = strawberry.field(description="When it last changed (UTC).")

    @classmethod
    def from_row(cls, row: EndpointRow) -> WebhookEndpoint:
        return cls(
            id=strawberry.ID(global_id.encode("WebhookEndpoint", row.id)),
            url=row.url,
            event_types=list(row.event_types),
            description=row.description,
            enabled=row.enabled,
            owner_partner_id=strawberry.ID(global_id.encode("Partner", row.partner_id)) if row.partner_id else None,
            owner_tenant_id=strawberry.ID(global_id.encode("Tenant", row.tenant_id)) if row.tenant_id else None,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="One event sent (or to be sent) to one endpoint: the queue entry and its log.")
class WebhookDelivery:
    id: strawberry.ID = strawberry.field(description="Global ID; redeliverWebhook takes it.")
    event_id: str = strawberry.field(description="The event's id: the `webhook-id` header of every attempt.")
    event_type: str = strawberry.field(description="The event's type.")
    sequence: BigInt = strawberry.field(
        description="The event's publication sequence (the endpoint's order); a BigInt: it may pass Int's 2^31 - 1."
    )
    status: WebhookDeliveryStatus = strawberry.field(description="Where it is.")
    attempts: int = strawberry.field(description="Attempts made since it was queued (or redelivered).")
    next_attempt_at: datetime | None = strawberry.field(description="When it is tried next (PENDING only).")
    last_attempt_at: datetime | None = strawberry.field(description="When it was last tried.")
    response_status_code: int | None = strawberry.field(description="The last attempt's HTTP status, if answered.")
    latency_ms: int | None = strawberry.field(description="The last attempt's time to a complete answer (ms).")
    last_error: str | None = strawberry.field(description="Why the last attempt failed, if it did.")
    delivered_at: datetime | None = strawberry.field(description="When the receiver answered 2xx.")
    created_at: datetime = strawberry.field(description="When it was queued.")

    @classmethod
    def from_row(cls, row: DeliveryRow) -> WebhookDelivery:
        return cls(
            id=strawberry.ID(global_id.encode("WebhookDelivery", row.id)),
            event_id=message_id(row.event_id),
            event_type=row.event_type,
            sequence=BigInt(row.sequence),
            status=WebhookDeliveryStatus(row.status.value),
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at if row.status is DeliveryStatus.PENDING else None,
            last_attempt_at=row.last_attempt_at,
            response_status_code=row.last_status_code,
            latency_ms=row.last_latency_ms,
            last_error=row.last_error,
            delivered_at=row.delivered_at,
            created_at=row.created_at,
        )


@strawberry.type
class WebhookQueries:
    @strawberry.field(
        permission_classes=GUARDED,
        description="Your webhook endpoints, oldest first: a PARTNER's own, a tenant OWNER's tenant's.",
    )
    async def webhook_endpoints(self, info: Info[RequestContext, None]) -> list[WebhookEndpoint]:
        scope = await caller_scope(info.context)
        return [WebhookEndpoint.from_row(row) for row in await list_webhook_endpoints(info.context.database, scope)]

    @strawberry.field(
        permission_classes=GUARDED,
        description="The delivery log of one of your endpoints, newest event first. Another's endpoint is NOT_FOUND.",
    )
    async def webhook_deliveries(
        self,
        info: Info[RequestContext, None],
        endpoint_id: Annotated[strawberry.ID, strawberry.argument(description="The endpoint.")],
        status: Annotated[
            WebhookDeliveryStatus | None, strawberry.argument(description="Only deliveries in this status.")
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[WebhookDelivery]:
        endpoint = global_id.decode(endpoint_id, "WebhookEndpoint", field="endpointId")
        scope = await caller_scope(info.context)
        wanted = DeliveryStatus(status.value) if status is not None else None
        found = await list_webhook_deliveries(
            info.context.database, scope, endpoint, wanted, paging(info, first, after)
        )
        return connection(found.page, WebhookDelivery.from_row, found.count)
