"""Webhook endpoint mutations (issue 15): create, update, disable, rotate the secret, delete, redeliver.

A PARTNER manages the endpoints told of its own events, a tenant's OWNER those told of its tenant's
(auth/policy.py); any other endpoint is NOT_FOUND. The secret is in the answer of create and rotate only.
"""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from resolvers.context import RequestContext
from resolvers.webhooks import endpoints
from schema import global_id
from schema.arguments import MutationInput
from schema.mutations.common import GUARDED, run
from schema.webhook import EVENT_TYPE_LIST, WebhookDelivery, WebhookEndpoint

_URL = (
    "Where to POST deliveries: an https URL whose host is public (loopback, private, link-local and metadata"
    " addresses are refused, and checked again at each connection against DNS rebinding), without credentials."
)
_SECRET = (
    "The signing secret (Standard Webhooks: `whsec_` and base64): shown in this answer only. Verify each delivery's"
    " `webhook-signature` with it (e.g. `standardwebhooks.Webhook(secret).verify(body, headers)`)."
)


@strawberry.input(description="A new webhook endpoint.")
class CreateWebhookEndpointInput:
    url: str = strawberry.field(description=_URL)
    event_types: list[str] = strawberry.field(
        description=f"The event types to send, one or more of: {EVENT_TYPE_LIST}."
    )
    description: str | None = strawberry.field(default=None, description="A note (at most 500 characters).")

    def arguments(self, allow_private: bool) -> endpoints.CreateEndpointArgs:
        return endpoints.CreateEndpointArgs(
            url=self.url,
            event_types=endpoints.event_types(self.event_types),
            description=endpoints.description(self.description),
            allow_private=allow_private,
        )


@strawberry.type(description="A new endpoint and, this once, its secret.")
class WebhookEndpointWithSecretPayload:
    endpoint: WebhookEndpoint = strawberry.field(description="The endpoint.")
    secret: str = strawberry.field(description=_SECRET)


@strawberry.input(description="Changes to one of your endpoints; omitted fields stay as they are.")
class UpdateWebhookEndpointInput:
    endpoint_id: strawberry.ID = strawberry.field(description="The endpoint.")
    url: str | None = strawberry.field(default=None, description=_URL)
    event_types: list[str] | None = strawberry.field(default=None, description="The event types to send.")
    description: str | None = strawberry.field(default=None, description="A note (an empty string clears it).")
    enabled: bool | None = strawberry.field(default=None, description="Enable or disable it.")

    def arguments(self, allow_private: bool) -> endpoints.UpdateEndpointArgs:
        return endpoints.UpdateEndpointArgs(
            endpoint_id=global_id.decode(self.endpoint_id, "WebhookEndpoint", field="endpointId"),
            url=self.url,
            event_types=endpoints.event_types(self.event_types) if self.event_types is not None else None,
            description=endpoints.description(self.description),
            enabled=self.enabled,
            allow_private=allow_private,
        )


@strawberry.input(description="One of your endpoints.")
class WebhookEndpointInput:
    endpoint_id: strawberry.ID = strawberry.field(description="The endpoint.")

    def arguments(self) -> endpoints.EndpointArgs:
        return endpoints.EndpointArgs(global_id.decode(self.endpoint_id, "WebhookEndpoint", field="endpointId"))


@strawberry.type(description="An endpoint as the mutation left it.")
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint = strawberry.field(description="The endpoint.")


@strawberry.type(description="A deleted endpoint.")
class DeleteWebhookEndpointPayload:
    deleted_endpoint_id: strawberry.ID = strawberry.field(description="The endpoint that was deleted.")


@strawberry.input(description="A delivery to send again.")
class RedeliverWebhookInput:
    delivery_id: strawberry.ID = strawberry.field(description="The delivery (from webhookDeliveries).")

    def arguments(self) -> endpoints.RedeliverArgs:
        return endpoints.RedeliverArgs(global_id.decode(self.delivery_id, "WebhookDelivery", field="deliveryId"))


@strawberry.type(description="A delivery queued again.")
class RedeliverWebhookPayload:
    delivery: WebhookDelivery = strawberry.field(description="The delivery, PENDING.")


@strawberry.type
class WebhookMutations:
    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Register a webhook endpoint (PARTNER: told of its own events; tenant OWNER: of its tenant's;"
        " a token holding both creates its tenant's). At most 20 per owner.",
    )
    async def create_webhook_endpoint(
        self, info: Info[RequestContext, None], input: Annotated[CreateWebhookEndpointInput, MutationInput]
    ) -> WebhookEndpointWithSecretPayload:
        return await run(
            info,
            endpoints.create_webhook_endpoint,
            input.arguments(info.context.webhook_allow_private_addresses),
            lambda made: WebhookEndpointWithSecretPayload(
                endpoint=WebhookEndpoint.from_row(made.endpoint), secret=made.secret
            ),
        )

    @strawberry.mutation(permission_classes=GUARDED, description="Change one of your endpoints.")
    async def update_webhook_endpoint(
        self, info: Info[RequestContext, None], input: Annotated[UpdateWebhookEndpointInput, MutationInput]
    ) -> WebhookEndpointPayload:
        return await run(
            info,
            endpoints.update_webhook_endpoint,
            input.arguments(info.context.webhook_allow_private_addresses),
            lambda row: WebhookEndpointPayload(endpoint=WebhookEndpoint.from_row(row)),
        )

    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Disable one of your endpoints: nothing is sent to it, nor queued for it, until it is enabled"
        " again (updateWebhookEndpoint); what was queued waits.",
    )
    async def disable_webhook_endpoint(
        self, info: Info[RequestContext, None], input: Annotated[WebhookEndpointInput, MutationInput]
    ) -> WebhookEndpointPayload:
        return await run(
            info,
            endpoints.disable_webhook_endpoint,
            input.arguments(),
            lambda row: WebhookEndpointPayload(endpoint=WebhookEndpoint.from_row(row)),
        )

    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Give one of your endpoints a new secret (shown once): every attempt from now on is signed with"
        " it, retries of earlier events included.",
    )
    async def rotate_webhook_secret(
        self, info: Info[RequestContext, None], input: Annotated[WebhookEndpointInput, MutationInput]
    ) -> WebhookEndpointWithSecretPayload:
        return await run(
            info,
            endpoints.rotate_webhook_secret,
            input.arguments(),
            lambda made: WebhookEndpointWithSecretPayload(
                endpoint=WebhookEndpoint.from_row(made.endpoint), secret=made.secret
            ),
        )

    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Delete one of your endpoints with its delivery log; what was queued for it is never sent.",
    )
    async def delete_webhook_endpoint(
        self, info: Info[RequestContext, None], input: Annotated[WebhookEndpointInput, MutationInput]
    ) -> DeleteWebhookEndpointPayload:
        return await run(
            info,
            endpoints.delete_webhook_endpoint,
            input.arguments(),
            lambda deleted: DeleteWebhookEndpointPayload(
                deleted_endpoint_id=strawberry.ID(global_id.encode("WebhookEndpoint", deleted))
            ),
        )

    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Send a delivery of one of your endpoints again (delivered or dead): PENDING with a fresh retry"
        " schedule, the same webhook-id and body, at its place in the endpoint's order.",
    )
    async def redeliver_webhook(
        self, info: Info[RequestContext, None], input: Annotated[RedeliverWebhookInput, MutationInput]
    ) -> RedeliverWebhookPayload:
        return await run(
            info,
            endpoints.redeliver_webhook,
            input.arguments(),
            lambda row: RedeliverWebhookPayload(delivery=WebhookDelivery.from_row(row)),
        )
