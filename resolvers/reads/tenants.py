"""`tenants`: the tenants the caller sees, by display name."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import select

from auth.policy import Entity
from auth.row_filters import visibility
from auth.scope import CallerScope
from db.engine import Database
from db.enums import TenantStatus
from db.tenant import Tenant
from resolvers.filters import tenant_conditions
from resolvers.loaders import TENANT_ORDER
from resolvers.pagination import Paging
from resolvers.reads.listing import Listing, list_rows


@dataclass(frozen=True, slots=True)
class TenantFilter:
    """Omitted (None) fields do not filter."""

    search: str | None = None  # case-insensitive part of the display name
    country_code: str | None = None
    status: TenantStatus | None = None


async def list_tenants(database: Database, scope: CallerScope, filter: TenantFilter, paging: Paging) -> Listing[Tenant]:
    statement = select(Tenant).where(*tenant_conditions(asdict(filter)))
    return await list_rows(
        database, statement, visible=visibility(Entity.TENANT, scope), key=TENANT_ORDER, paging=paging
    )
