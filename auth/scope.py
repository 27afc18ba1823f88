"""The caller as the database knows it: the token's claims resolved to row ids, and roles that still hold.

A token says "tenant X" and "partner 123"; only the database can say that tenant X exists and that partner 123 holds
an active delegated admin relationship on it right now. Resolved once per request, in one statement at most.

The external ids a database has resolved are remembered (`KnownIds`): a tenant's or partner's row id never changes
once the row exists (provisioning only inserts them; nothing deletes them or reassigns an external id), so a
returning caller's scope costs no statement. What may change is never remembered: an id not found yet (it may be
provisioned a moment later) and whether a delegated admin relationship is active (ending one takes effect on the
next request). A relationship past its `expires_at` grants nothing from that instant on, before the sweep
(resolvers.sweep) has ended it: the role is decided against the server's clock (db.clock), bound as `now`.
"""

from __future__ import annotations

import functools
import uuid
import weakref
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import Engine, Select, String, Uuid, and_, bindparam, exists, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import Pool

from auth.principal import Principal, Role
from db import clock
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


class KnownIds:
    """External ids one database resolved to row ids: (kind, external id) -> id, a bounded LRU."""

    MAXSIZE = 10_000

    def __init__(self) -> None:
        self._ids: OrderedDict[tuple[str, object], uuid.UUID] = OrderedDict()

    def get(self, kind: str, external: object) -> uuid.UUID | None:
        found = self._ids.get((kind, external))
        if found is not None:
            self._ids.move_to_end((kind, external))
        return found

    def remember(self, kind: str, external: object, row_id: uuid.UUID | None) -> None:
        if external is None or row_id is None:
            return
        self._ids[(kind, external)] = row_id
        if len(self._ids) > self.MAXSIZE:
            self._ids.popitem(last=False)


# Per database: a test run or a tool may point one process at several. Keyed by the engine's connection pool, which
# the engine and every engine derived from it with other execution options (the read and write sessions') share.
_known_ids: weakref.WeakKeyDictionary[Pool, KnownIds] = weakref.WeakKeyDictionary()


def known_ids(engine: Engine) -> KnownIds:
    known = _known_ids.get(engine.pool)
    if known is None:
        known = _known_ids[engine.pool] = KnownIds()
    return known


def share_known_ids(engine: Engine, primary: Engine) -> None:
    """A read replica's engine (db/replicas.py) resolves the same ids as its primary's: one cache for both, so an id
    resolved on either spares the next request its scope statement (it looks on the primary's engine)."""
    _known_ids[engine.pool] = known_ids(primary)


@functools.cache
def _scope_statement(has_tenant: bool, has_partner: bool) -> Select[uuid.UUID | None, uuid.UUID | None, bool]:
    """(tenant id, partner id, delegation active) for the bound `tid` and `mpn`: built once per shape of token."""
    tenant = select(Tenant.id).where(Tenant.external_id == bindparam("tid", type_=Uuid())).scalar_subquery()
    partner = select(Partner.id).where(Partner.mpn_id == bindparam("mpn", type_=String())).scalar_subquery()
    now = bindparam("now", type_=DelegatedAdminRelationship.expires_at.type)
    delegation_active = exists().where(
        and_(
            DelegatedAdminRelationship.tenant_id == tenant,
            DelegatedAdminRelationship.partner_id == partner,
            DelegatedAdminRelationship.status == DelegationStatus.ACTIVE,
            or_(
                DelegatedAdminRelationship.expires_at.is_(None),
                DelegatedAdminRelationship.expires_at > now,
            ),
        )
    )
    return select(
        tenant if has_tenant else literal(None),
        partner if has_partner else literal(None),
        delegation_active if has_tenant and has_partner else literal(False),
    )


def scope_without_lookup(principal: Principal) -> CallerScope | None:
    """The scope of a token naming neither a tenant nor a partner, which needs no database; None for any other.
    Such a token holds no DELEGATED_ADMIN role: that needs a tenant, a partner and a relationship active now."""
    if principal.tenant_external_id is not None or principal.partner_mpn_id is not None:
        return None
    return CallerScope(principal, principal.roles - {Role.DELEGATED_ADMIN}, None, None)


def _needs_delegation_check(principal: Principal) -> bool:
    """A delegated admin token needs both a tenant and a partner, and a relationship active now."""
    return (
        Role.DELEGATED_ADMIN in principal.roles
        and principal.tenant_external_id is not None
        and principal.partner_mpn_id is not None
    )


def scope_from_known_ids(engine: Engine, principal: Principal) -> CallerScope | None:
    """The scope when it needs no statement: no ids to resolve, or ids this database resolved before, and no
    delegated admin relationship to check. None when only the database can say."""
    without_lookup = scope_without_lookup(principal)
    if without_lookup is not None:
        return without_lookup
    if _needs_delegation_check(principal):
        return None
    tid, mpn = principal.tenant_external_id, principal.partner_mpn_id
    known = known_ids(engine)
    tenant_id, partner_id = known.get("tenant", tid), known.get("partner", mpn)
    if (tid is not None and tenant_id is None) or (mpn is not None and partner_id is None):
        return None
    return CallerScope(principal, principal.roles - {Role.DELEGATED_ADMIN}, tenant_id, partner_id)


async def resolve_scope(session: AsyncSession, principal: Principal) -> CallerScope:
    engine = session.get_bind().engine
    known_scope = scope_from_known_ids(engine, principal)
    if known_scope is not None:
        return known_scope
    tid, mpn = principal.tenant_external_id, principal.partner_mpn_id

    roles = set(principal.roles)
    known = known_ids(engine)
    tenant_id, partner_id = known.get("tenant", tid), known.get("partner", mpn)
    check_delegation = _needs_delegation_check(principal)
    delegation_active = False
    if check_delegation or (tid is not None and tenant_id is None) or (mpn is not None and partner_id is None):
        statement = _scope_statement(tid is not None, mpn is not None)
        row = (await session.execute(statement, {"tid": tid, "mpn": mpn, "now": clock.now()})).one()
        tenant_id, partner_id, delegation_active = _as_uuid(row[0]), _as_uuid(row[1]), bool(row[2])
        known.remember("tenant", tid, tenant_id)
        known.remember("partner", mpn, partner_id)
    if not (check_delegation and delegation_active):
        roles.discard(Role.DELEGATED_ADMIN)
    return CallerScope(principal, frozenset(roles), tenant_id, partner_id)


def _as_uuid(value: object) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    # Scalar subqueries over a Uuid column come back as hex text on SQLite.
    return uuid.UUID(str(value))
