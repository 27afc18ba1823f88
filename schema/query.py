"""The Query root: each field decodes its arguments, resolves the caller's scope and calls one function of
resolvers/reads/, then converts the rows it gets with `from_row`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.permission import BasePermission
from strawberry.types import Info

from resolvers.caller import caller_scope, loaders_of
from resolvers.context import RequestContext
from resolvers.errors import BadUserInput, NotFound
from resolvers.invitations import codes
from resolvers.invitations.redeeming import preview_dpor_invitation
from resolvers.reads.attributed import attributed_subscriptions
from resolvers.reads.audit_events import AuditEventFilter, list_audit_events
from resolvers.reads.nodes import MAX_NODES, load_nodes
from resolvers.reads.partners import list_partners, partner_by_mpn_id
from resolvers.reads.subscriptions import SubscriptionFilter, list_subscriptions
from resolvers.reads.tenants import TenantFilter, list_tenants
from schema import global_id
from schema.arguments import After, Filter, First, NodeId, paging
from schema.association import PartnerAssociation
from schema.attributed import AttributedSubscriptionConnection, AttributedSubscriptionsFilter, association_filter
from schema.audit import AuditEvent
from schema.claims import ClaimQueries
from schema.delegation import DelegatedAdminRelationship
from schema.dpor_invitation import DporInvitationPreview
from schema.enums import Offer, SubscriptionStatus, TenantStatus
from schema.extensions.rate_limit import RateLimitInfo, rate_limit_field
from schema.node import Connection, Node, connection
from schema.partner import Partner
from schema.permissions import OperationPolicy
from schema.subscription import Subscription
from schema.tenant import Tenant
from schema.usage import UsageAggregate, UsageAggregatesFilter, UsageGroupBy, aggregate, to_filter
from schema.viewer import Viewer, viewer
from schema.webhook import WebhookQueries

# Node types by global ID type name, with their converters (resolvers.reads.nodes.NODE_LOADERS reads their rows).
NODE_TYPES: dict[str, Callable[[Any], Node]] = {
    "Tenant": Tenant.from_row,
    "Subscription": Subscription.from_row,
    "Partner": Partner.from_row,
    "PartnerAssociation": PartnerAssociation.from_row,
    "DelegatedAdminRelationship": DelegatedAdminRelationship.from_row,
    "AuditEvent": AuditEvent.from_row,
}


async def _nodes(info: Info[RequestContext, None], node_ids: list[str], fields: list[str]) -> list[Node | None]:
    """The nodes, in order, null where unknown or out of reach. Every id is decoded before anything is read (a bad
    one is BAD_USER_INPUT naming its field)."""
    decoded = [global_id.decode_any(node_id, field=field) for node_id, field in zip(node_ids, fields, strict=True)]
    rows = await load_nodes(await loaders_of(info.context), decoded)
    return [
        NODE_TYPES[type_name](row) if row is not None else None
        for (type_name, _), row in zip(decoded, rows, strict=True)
    ]


async def _node(info: Info[RequestContext, None], node_id: str, field: str) -> Node | None:
    return (await _nodes(info, [node_id], [field]))[0]


async def _one(info: Info[RequestContext, None], type_name: str, node_id: strawberry.ID) -> Any:
    node = await _node(info, global_id.encode(type_name, global_id.decode(node_id, type_name)), "id")
    if node is None:
        raise NotFound(type_name)
    return node


@strawberry.input(description="Narrows the tenant list.")
class TenantsFilter:
    search: str | None = strawberry.field(default=None, description="Case-insensitive part of the display name.")
    country_code: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2 country code.")
    status: TenantStatus | None = strawberry.field(default=None, description="Only this status.")


@strawberry.input(description="Narrows the subscription list.")
class SubscriptionsFilter:
    tenant_id: strawberry.ID | None = strawberry.field(default=None, description="Only this tenant's.")
    offer: Offer | None = strawberry.field(default=None, description="Only this offer.")
    status: SubscriptionStatus | None = strawberry.field(default=None, description="Only this status.")
    has_digital_partner_of_record: bool | None = strawberry.field(
        default=None, description="Only with (true) or without (false) an active DPOR."
    )
    partner_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only subscriptions this partner is or was associated with."
    )


@strawberry.input(description="Narrows the audit log.")
class AuditEventsFilter:
    tenant_id: strawberry.ID | None = strawberry.field(default=None, description="Only events about this tenant.")
    subscription_id: strawberry.ID | None = strawberry.field(default=None, description="Only about this subscription.")
    action: str | None = strawberry.field(default=None, description="Only this mutation name.")
    correlation_id: str | None = strawberry.field(
        default=None, description="Only the events of this batch (a bulk mutation's `correlationId`)."
    )
    from_: datetime | None = strawberry.field(default=None, name="from", description="Only at or after this instant.")
    to: datetime | None = strawberry.field(default=None, description="Only before this instant.")


def _optional_id(value: strawberry.ID | None, type_name: str, field: str) -> uuid.UUID | None:
    return global_id.decode(value, type_name, field=field) if value is not None else None


# Root operations are checked against auth.policy.OPERATIONS before they run.
GUARDED: list[type[BasePermission]] = [OperationPolicy]


@strawberry.type(description="Read operations of the dpor-gateway API.")
class Query(ClaimQueries, WebhookQueries):
    rate_limit: RateLimitInfo | None = rate_limit_field

    @strawberry.field(description="Fetches any object by its global ID; null when it does not exist or is not yours.")
    async def node(self, info: Info[RequestContext, None], id: NodeId) -> Node | None:
        return await _node(info, id, "id")

    @strawberry.field(description="Fetches objects by global IDs, in order; null for each one not found.")
    async def nodes(
        self,
        info: Info[RequestContext, None],
        ids: Annotated[list[strawberry.ID], strawberry.argument(description=f"Up to {MAX_NODES} global IDs.")],
    ) -> list[Node | None]:
        if len(ids) > MAX_NODES:
            raise BadUserInput(f"at most {MAX_NODES} ids", field="ids", maximum=MAX_NODES)
        return await _nodes(info, list(ids), [f"ids[{index}]" for index in range(len(ids))])

    @strawberry.field(description="The caller: identity, roles, and permitted operations.")
    async def viewer(self, info: Info[RequestContext, None]) -> Viewer:
        return await viewer(info)

    @strawberry.field(
        permission_classes=GUARDED,
        description="A tenant by global ID.",
    )
    async def tenant(self, info: Info[RequestContext, None], id: NodeId) -> Tenant | None:
        return await _one(info, "Tenant", id)  # type: ignore[no-any-return]

    @strawberry.field(
        permission_classes=GUARDED,
        description="Tenants visible to the caller, by display name.",
    )
    async def tenants(
        self,
        info: Info[RequestContext, None],
        first: First = None,
        after: After = None,
        filter: Annotated[TenantsFilter | None, Filter] = None,
    ) -> Connection[Tenant]:
        given = filter or TenantsFilter()
        wanted = TenantFilter(search=given.search, country_code=given.country_code, status=given.status)
        scope = await caller_scope(info.context)
        found = await list_tenants(info.context.database, scope, wanted, paging(info, first, after))
        return connection(found.page, Tenant.from_row, found.count)

    @strawberry.field(
        permission_classes=GUARDED,
        description="A subscription by global ID.",
    )
    async def subscription(self, info: Info[RequestContext, None], id: NodeId) -> Subscription | None:
        return await _one(info, "Subscription", id)  # type: ignore[no-any-return]

    @strawberry.field(
        permission_classes=GUARDED,
        description="Subscriptions visible to the caller, oldest first.",
    )
    async def subscriptions(
        self,
        info: Info[RequestContext, None],
        first: First = None,
        after: After = None,
        filter: Annotated[SubscriptionsFilter | None, Filter] = None,
    ) -> Connection[Subscription]:
        given = filter or SubscriptionsFilter()
        wanted = SubscriptionFilter(
            tenant_id=_optional_id(given.tenant_id, "Tenant", "filter.tenantId"),
            offer=given.offer,
            status=given.status,
            has_digital_partner_of_record=given.has_digital_partner_of_record,
            partner_id=_optional_id(given.partner_id, "Partner", "filter.partnerId"),
        )
        scope = await caller_scope(info.context)
        found = await list_subscriptions(info.context.database, scope, wanted, paging(info, first, after))
        return connection(found.page, Subscription.from_row, found.count)

    @strawberry.field(
        permission_classes=GUARDED,
        description="A partner by global ID.",
    )
    async def partner(self, info: Info[RequestContext, None], id: NodeId) -> Partner | None:
        return await _one(info, "Partner", id)  # type: ignore[no-any-return]

    @strawberry.field(
        permission_classes=GUARDED,
        description="A partner by its partner network (MPN) id.",
    )
    async def partner_by_mpn_id(
        self,
        info: Info[RequestContext, None],
        mpn_id: Annotated[str, strawberry.argument(description="The MPN id (digits).")],
    ) -> Partner | None:
        scope = await caller_scope(info.context)
        return Partner.from_row(await partner_by_mpn_id(info.context.database, scope, mpn_id))

    @strawberry.field(
        permission_classes=GUARDED,
        description="Partners visible to the caller, by name.",
    )
    async def partners(
        self,
        info: Info[RequestContext, None],
        first: First = None,
        after: After = None,
        search: Annotated[
            str | None, strawberry.argument(description="Case-insensitive part of the name, or an exact MPN id.")
        ] = None,
    ) -> Connection[Partner]:
        scope = await caller_scope(info.context)
        found = await list_partners(info.context.database, scope, search, paging(info, first, after))
        return connection(found.page, Partner.from_row, found.count)

    @strawberry.field(
        permission_classes=GUARDED,
        description=(
            "Subscriptions a partner is or was associated with in the window, each with the association rows"
            " naming it. Partners get their own (an empty page when the token's MPN id names no partner yet);"
            " platform admins pass partnerId."
        ),
    )
    async def attributed_subscriptions(
        self,
        info: Info[RequestContext, None],
        first: First = None,
        after: After = None,
        filter: Annotated[AttributedSubscriptionsFilter | None, Filter] = None,
        partner_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="The partner (platform admins); partners get their own when omitted."),
        ] = None,
    ) -> AttributedSubscriptionConnection:
        partner = _optional_id(partner_id, "Partner", "partnerId")
        scope = await caller_scope(info.context)
        found = await attributed_subscriptions(
            info.context.database, scope, partner, association_filter(filter), paging(info, first, after)
        )
        return await AttributedSubscriptionConnection.answer(info, found)

    @strawberry.field(
        permission_classes=GUARDED,
        description=(
            "Usage summed from the exact rollups, grouped as asked and always by currency. Tenant roles see their"
            " tenant's usage; partners only what is attributed to them, inside their association windows. A window"
            " over 36 months, or DAY grouping over 366 days, is BAD_USER_INPUT."
        ),
    )
    async def usage_aggregates(
        self,
        info: Info[RequestContext, None],
        filter: Annotated[UsageAggregatesFilter, Filter],
        group_by: Annotated[list[UsageGroupBy], strawberry.argument(description="Grouping keys (may be empty).")],
    ) -> list[UsageAggregate]:
        return await aggregate(info, to_filter(filter), list(group_by))

    @strawberry.field(
        permission_classes=GUARDED,
        description="The audit log visible to the caller, newest first.",
    )
    async def audit_events(
        self,
        info: Info[RequestContext, None],
        first: First = None,
        after: After = None,
        filter: Annotated[AuditEventsFilter | None, Filter] = None,
    ) -> Connection[AuditEvent]:
        given = filter or AuditEventsFilter()
        wanted = AuditEventFilter(
            tenant_id=_optional_id(given.tenant_id, "Tenant", "filter.tenantId"),
            subscription_id=_optional_id(given.subscription_id, "Subscription", "filter.subscriptionId"),
            action=given.action,
            correlation_id=given.correlation_id,
            from_=given.from_,
            to=given.to,
        )
        scope = await caller_scope(info.context)
        found = await list_audit_events(info.context.database, scope, wanted, paging(info, first, after))
        return connection(found.page, AuditEvent.from_row, found.count)

    @strawberry.field(
        permission_classes=GUARDED,
        description=(
            "A DPOR invitation's preview by its code: the inviting partner's name and MPN id, its message and expiry"
            " (tenant OWNER only; service admins, co-admins, delegated admins, partners and platform admins are"
            " FORBIDDEN). A code that is unknown, expired, revoked or used up is NOT_FOUND, one answer for all; after"
            " too many such answers the caller's code lookups are RATE_LIMITED (`retryAfter`)."
        ),
    )
    async def dpor_invitation(
        self,
        info: Info[RequestContext, None],
        code: Annotated[str, strawberry.argument(description="The code the partner gave.")],
    ) -> DporInvitationPreview | None:
        scope = await caller_scope(info.context)
        preview = await preview_dpor_invitation(info.context.database, scope, code, codes.guard_for(info.context))
        return DporInvitationPreview.from_preview(preview)
