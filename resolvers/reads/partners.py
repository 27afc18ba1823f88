"""`partners` and `partnerByMpnId`: the partner directory as the caller sees it (a partner sees only itself)."""

from __future__ import annotations

from sqlalchemy import select

from auth.policy import Entity
from auth.row_filters import visibility
from auth.scope import CallerScope
from db.engine import Database
from db.partner import Partner
from resolvers.errors import NotFound
from resolvers.filters import partner_conditions
from resolvers.loaders import PARTNER_ORDER
from resolvers.pagination import Paging
from resolvers.reads.listing import Listing, list_rows


async def list_partners(database: Database, scope: CallerScope, search: str | None, paging: Paging) -> Listing[Partner]:
    """By name; `search` is a case-insensitive part of the name or an exact MPN id."""
    statement = select(Partner).where(*partner_conditions(search))
    return await list_rows(
        database, statement, visible=visibility(Entity.PARTNER, scope), key=PARTNER_ORDER, paging=paging
    )


async def partner_by_mpn_id(database: Database, scope: CallerScope, mpn_id: str) -> Partner:
    """NOT_FOUND when no partner has the id or the caller may not see it (the two answer alike)."""
    visible = visibility(Entity.PARTNER, scope)
    async with database.read() as session:
        row = await session.scalar(
            select(Partner).where(Partner.mpn_id == mpn_id, visible.predicate), visible.parameters
        )
    if row is None:
        raise NotFound("partner")
    return row
