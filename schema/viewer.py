"""The caller as the API sees it, with what it may do (so a frontend can show or hide its buttons)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from auth.policy import permitted_operations
from resolvers.caller import caller_scope, loaders_of
from resolvers.context import RequestContext
from schema.enums import Role
from schema.partner import Partner
from schema.tenant import Tenant


@strawberry.type(description="The caller: its identity, roles, and the operations it may perform.")
class Viewer:
    subject: str = strawberry.field(description="Token subject (`sub`).")
    client_id: str | None = strawberry.field(description="OAuth client id of the calling application.")
    roles: list[Role] = strawberry.field(
        description="Roles in effect (a delegated admin role only while its relationship is active)."
    )
    scopes: list[str] = strawberry.field(description="Scopes the token carries.")
    permissions: list[str] = strawberry.field(
        description="Queries and mutations the caller's roles allow (targets are still checked per object)."
    )

    @strawberry.field(description="The tenant the token acts on (`tid`), if the caller can see it.")
    async def tenant(self, info: Info[RequestContext, None]) -> Tenant | None:
        scope = await caller_scope(info.context)
        if scope.tenant_id is None:
            return None
        row = await (await loaders_of(info.context)).tenant.load(scope.tenant_id)
        return Tenant.from_row(row) if row else None

    @strawberry.field(description="The partner the token acts as (`partner_id`), if the caller can see it.")
    async def partner(self, info: Info[RequestContext, None]) -> Partner | None:
        scope = await caller_scope(info.context)
        if scope.partner_id is None:
            return None
        row = await (await loaders_of(info.context)).partner.load(scope.partner_id)
        return Partner.from_row(row) if row else None


async def viewer(info: Info[RequestContext, None]) -> Viewer:
    scope = await caller_scope(info.context)
    roles = sorted(scope.roles, key=lambda role: role.value)
    return Viewer(
        subject=scope.principal.subject,
        client_id=scope.principal.client_id,
        roles=roles,
        scopes=sorted(scope.principal.scopes),
        permissions=permitted_operations(roles),
    )
