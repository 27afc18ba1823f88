"""The caller as the database knows it: the token's claims resolved to row ids, and roles that still hold.

A token says "tenant X" and "partner 123"; only the database can say that tenant X exists and that partner 123 holds
an active delegated admin relationship on it right now. Resolved once per request, in one statement.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import and_, exists, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Principal, Role
from db.delegation import DelegatedAdminRelationship
from db.enums import DelegationStatus
from db.partner import Partner
from db.tenant import Tenant


@dataclass(frozen=True, slots=True)
class CallerScope:
    principal: Principal
    # Effective roles: DELEGATED_ADMIN only while its relationship is active.
    roles: frozenset[Role]
    tenant_id: uuid.UUID | None
    partner_id: uuid.UUID | None

    def has(self, role: Role) -> bool:
        return role in self.roles


async def resolve_scope(session: AsyncSession, principal: Principal) -> CallerScope:
    tid, mpn = principal.tenant_external_id, principal.partner_mpn_id
    if tid is None and mpn is None:
        return CallerScope(principal, principal.roles - {Role.DELEGATED_ADMIN}, None, None)

    tenant_id = select(Tenant.id).where(Tenant.external_id == tid).scalar_subquery() if tid else literal(None)
    partner_id = select(Partner.id).where(Partner.mpn_id == mpn).scalar_subquery() if mpn else literal(None)
    delegation_active = (
        exists().where(
            and_(
                DelegatedAdminRelationship.tenant_id
                == select(Tenant.id).where(Tenant.external_id == tid).scalar_subquery(),
                DelegatedAdminRelationship.partner_id
                == select(Partner.id).where(Partner.mpn_id == mpn).scalar_subquery(),
                DelegatedAdminRelationship.status == DelegationStatus.ACTIVE,
            )
        )
        if tid and mpn
        else literal(False)
    )
    row = (await session.execute(select(tenant_id, partner_id, delegation_active))).one()

    roles = set(principal.roles)
    if Role.DELEGATED_ADMIN in roles and not row[2]:
        roles.discard(Role.DELEGATED_ADMIN)
    return CallerScope(principal, frozenset(roles), _as_uuid(row[0]), _as_uuid(row[1]))


def _as_uuid(value: object) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    # Scalar subqueries over a Uuid column come back as hex text on SQLite.
    return uuid.UUID(str(value))
