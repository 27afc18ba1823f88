"""Delegated admin relationships: a partner holding admin rights on a customer tenant."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from db.delegation import DelegatedAdminRelationship as DelegationRow
from resolvers.caller import loaders_of
from resolvers.context import RequestContext
from resolvers.errors import NotFound
from schema import global_id
from schema.enums import DelegationStatus
from schema.node import Node

if TYPE_CHECKING:
    from schema.partner import Partner
    from schema.tenant import Tenant


@strawberry.type(description="A partner given admin rights on a customer tenant.")
class DelegatedAdminRelationship(Node):
    tenant_id: strawberry.Private[uuid.UUID]
    partner_id: strawberry.Private[uuid.UUID]
    status: DelegationStatus = strawberry.field(description="ACTIVE while the partner holds the rights.")
    created_at: datetime = strawberry.field(description="When the relationship started (UTC).")
    ended_at: datetime | None = strawberry.field(
        description="When it ended (UTC); null while active. An expired relationship ended at its expiresAt."
    )
    expires_at: datetime | None = strawberry.field(
        description="When the rights lapse by themselves (UTC); null: until ended. From this instant the partner"
        " holds no delegated admin role, and its admin links on the tenant end with ROLE_REVOKED at this instant."
    )

    @classmethod
    def from_row(cls, row: DelegationRow) -> DelegatedAdminRelationship:
        return cls(
            id=strawberry.ID(global_id.encode("DelegatedAdminRelationship", row.id)),
            tenant_id=row.tenant_id,
            partner_id=row.partner_id,
            status=row.status,
            created_at=row.created_at,
            ended_at=row.ended_at,
            expires_at=row.expires_at,
        )

    @strawberry.field(description="The customer tenant.")
    async def tenant(self, info: Info[RequestContext, None]) -> Annotated[Tenant, strawberry.lazy("schema.tenant")]:
        from schema.tenant import Tenant

        row = await (await loaders_of(info.context)).tenant.load(self.tenant_id)
        if row is None:
            raise NotFound("tenant")
        return Tenant.from_row(row)

    @strawberry.field(description="The partner holding the admin rights.")
    async def partner(
        self, info: Info[RequestContext, None]
    ) -> Annotated[Partner, strawberry.lazy("schema.partner")] | None:
        from schema.partner import Partner

        row = await (await loaders_of(info.context)).partner.load(self.partner_id)
        return Partner.from_row(row) if row else None
