"""`pendingClaims`: the claims a tenant's admins may still decline (resolvers/claims.py), the soonest window first.

A claim is listed while it is PENDING, not ended, and its decline window is open at this instant of the server's
clock (declineBy later than now); one past its window awaits the sweep, which makes it ACTIVE. The rows are bounded
by the operation's grants (the caller's own tenant for tenant roles, any for platform admins) and by the caller's
row filter of associations; a `tenant_id` outside the grants' reach, or absent, is NOT_FOUND.
"""

from __future__ import annotations

import uuid

from sqlalchemy import false, select

from auth.policy import Entity, RowFilter
from auth.row_filters import visibility
from auth.scope import CallerScope
from db import clock
from db.association import PartnerAssociation
from db.engine import Database
from db.enums import AssociationStatus
from db.subscription import Subscription
from db.tenant import Tenant
from resolvers.authorize import acting_grant, granted
from resolvers.errors import NotFound
from resolvers.pagination import Paging, SortKey, parse_datetime, parse_uuid
from resolvers.reads.listing import Listing, list_rows

CLAIM_ORDER = SortKey(
    "pendingClaims", (PartnerAssociation.decline_by, PartnerAssociation.id), (parse_datetime, parse_uuid)
)


async def list_pending_claims(
    database: Database, scope: CallerScope, tenant_id: uuid.UUID | None, paging: Paging
) -> Listing[PartnerAssociation]:
    held = granted("pendingClaims", scope)
    if tenant_id is not None:
        async with database.read() as session:
            found = await session.scalar(select(Tenant.id).where(Tenant.id == tenant_id))
        if found is None:
            raise NotFound("tenant")
        acting_grant(held, scope, tenant_id, "tenant")
    statement = select(PartnerAssociation).where(
        PartnerAssociation.status == AssociationStatus.PENDING,
        PartnerAssociation.valid_to.is_(None),
        PartnerAssociation.decline_by > clock.now_in_seconds(),
    )
    if tenant_id is None and not any(grant.reach is RowFilter.ALL for grant in held.values()):
        # Every other grant is of the caller's own (or delegated) tenant; a token naming none lists nothing.
        tenant_id = scope.tenant_id
        if tenant_id is None:
            statement = statement.where(false())
    if tenant_id is not None:
        statement = statement.where(
            PartnerAssociation.subscription_id.in_(select(Subscription.id).where(Subscription.tenant_id == tenant_id))
        )
    visible = visibility(Entity.PARTNER_ASSOCIATION, scope)
    return await list_rows(database, statement, visible=visible, key=CLAIM_ORDER, paging=paging)
