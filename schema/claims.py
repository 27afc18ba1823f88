"""`pendingClaims`: the claims a tenant's admins may still decline (resolvers/reads/claims.py), composed into the
Query root (schema/query.py)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from resolvers.caller import caller_scope
from resolvers.context import RequestContext
from resolvers.reads.claims import list_pending_claims
from schema import global_id
from schema.arguments import After, First, paging
from schema.association import PartnerAssociation
from schema.mutations.common import GUARDED
from schema.node import Connection, connection


@strawberry.type
class ClaimQueries:
    @strawberry.field(
        permission_classes=GUARDED,
        description="Claims still open to decline (status PENDING, declineBy in the future), the soonest window"
        " first: of `tenantId`, or of every tenant the caller reaches (tenant OWNER, SERVICE_ADMIN, CO_ADMIN and"
        " DELEGATED_ADMIN: their own tenant; PLATFORM_ADMIN: any). Only the OWNER declines (declineClaim). A tenant"
        " outside the caller's reach is NOT_FOUND.",
    )
    async def pending_claims(
        self,
        info: Info[RequestContext, None],
        tenant_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only this tenant's claims (omitted: every tenant the caller reaches)."),
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[PartnerAssociation]:
        tenant = global_id.decode(tenant_id, "Tenant", field="tenantId") if tenant_id is not None else None
        scope = await caller_scope(info.context)
        found = await list_pending_claims(info.context.database, scope, tenant, paging(info, first, after))
        return connection(found.page, PartnerAssociation.from_row, found.count)
