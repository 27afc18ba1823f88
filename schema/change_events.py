"""The subscription root (issue 15): change events pushed over graphql-transport-ws (gateway/graphql_view.py).

Named SubscriptionRoot in the SDL, since `Subscription` is the domain type (a customer's subscription). Each field
resolves its caller's reach once, when it subscribes (resolvers/change_streams.py), then yields the events that
caller may see, as its audience's copy."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from resolvers import global_id
from resolvers.caller import caller_scope
from resolvers.change_feed import ChangeFeed
from resolvers.change_streams import ReachEnded, Told, partner_stream, tenant_stream, told
from resolvers.context import RequestContext
from resolvers.errors import GatewayError
from schema.permissions import OperationPolicy
from schema.scalars import BigInt


@strawberry.type(description="A change a caller is told of: one published change event, as its audience's copy.")
class ChangeEvent:
    sequence: BigInt = strawberry.field(
        description="The event's publication order: gap-free and increasing across every event; within one stream"
        " they only increase (events the caller may not see are skipped). A BigInt: it may pass Int's 2^31 - 1."
    )
    event_id: strawberry.ID = strawberry.field(description="The event's id (webhooks send it as `webhook-id`).")
    type: str = strawberry.field(description="The event type, e.g. association.dpor_set (see the README's list).")
    occurred_at: datetime = strawberry.field(description="When the change committed (UTC).")
    tenant_id: strawberry.ID | None = strawberry.field(description="Global ID of the tenant concerned, if any.")
    subscription_id: strawberry.ID | None = strawberry.field(description="Global ID of the subscription, if any.")
    payload: JSON = strawberry.field(
        description="The event as this caller's audience sees it: the tenant's copy (as its audit log) or the"
        " partner's own copy (no personal data), the webhook body's `data`."
    )

    @classmethod
    def from_told(cls, told: Told) -> ChangeEvent:
        event = told.event
        return cls(
            sequence=BigInt(event.sequence),
            event_id=strawberry.ID(str(event.id)),
            type=event.type,
            occurred_at=event.occurred_at,
            tenant_id=strawberry.ID(global_id.encode("Tenant", event.tenant_id)) if event.tenant_id else None,
            subscription_id=(
                strawberry.ID(global_id.encode("Subscription", event.subscription_id))
                if event.subscription_id
                else None
            ),
            payload=cast("JSON", {**told.copy, "sequence": event.sequence}),
        )


def _feed(context: RequestContext) -> ChangeFeed:
    if context.change_feed is None:
        raise GatewayError("subscriptions are not served here")
    return context.change_feed


@strawberry.type(
    name="SubscriptionRoot",
    description="The subscription root: change events pushed over a graphql-transport-ws websocket on /graphql"
    " (the bearer token in connection_init). Only subscriptions run over the socket.",
)
class SubscriptionRoot:
    @strawberry.subscription(
        permission_classes=[OperationPolicy],
        description="Changes of the caller's tenant (or the one given, or one subscription's), the tenant's copy:"
        " for the tenant's admins, its delegated admins while active, and platform admins.",
    )
    async def association_changes(
        self,
        info: Info[RequestContext, None],
        subscription_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only this subscription's changes (NOT_FOUND outside the caller's reach)."),
        ] = None,
        tenant_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only this tenant's changes (NOT_FOUND outside the caller's reach)."),
        ] = None,
    ) -> AsyncGenerator[ChangeEvent, None]:
        context = info.context
        scope = await caller_scope(context)
        stream = await tenant_stream(context.database, scope, tenant_id=tenant_id, subscription_id=subscription_id)
        try:
            async for event in told(_feed(context), stream):
                yield ChangeEvent.from_told(event)
        except ReachEnded as ended:
            # The caller may no longer read what it subscribed to: the socket closes (4403), as at token expiry.
            if context.end_connection is None:
                raise
            await context.end_connection(str(ended))

    @strawberry.subscription(
        permission_classes=[OperationPolicy],
        description="Changes concerning the caller's partner, the partner's own copy (no tenant personal data).",
    )
    async def attribution_changes(self, info: Info[RequestContext, None]) -> AsyncGenerator[ChangeEvent, None]:
        context = info.context
        stream = partner_stream(await caller_scope(context))
        async for event in told(_feed(context), stream):
            yield ChangeEvent.from_told(event)
