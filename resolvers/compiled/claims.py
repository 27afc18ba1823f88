"""`pendingClaims(tenantId:, first:, after:)` in SQL, as resolvers/reads/claims.list_pending_claims reads it: the
claims still PENDING, not ended, whose decline window is open at this instant of the gateway's clock
(`decline_by > clock.now_in_seconds()`, the instant a bind parameter taken per request from the same clock, never
the database's `now()`), soonest window first, under the caller's row filter of associations.

The operation's grants decide which tenant: `tenantId` when given (a tenant that does not exist, or that no held
grant reaches, is the interpreter's NOT_FOUND: MISSING here), else every tenant for a grant of ALL, else the caller's
own (none known: nothing). A `tenantId` that resolvers.global_id refuses is refused ahead, by the same call, as the
resolver's first step."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from graphql import FieldNode
from sqlalchemy import ColumnElement, and_, bindparam, case, exists, false, func, literal_column, select
from sqlalchemy.types import Uuid

from auth.policy import TENANT_SCOPED, RowFilter, grants
from auth.row_filters import SCOPE_TENANT_ID
from db.enums import AssociationStatus
from resolvers import global_id
from resolvers.compiled import sql_text
from resolvers.compiled.bindings import argument, row_id
from resolvers.compiled.catalog import TYPES
from resolvers.compiled.errors import NotCompilable
from resolvers.errors import BadUserInput
from resolvers.reads.claims import CLAIM_ORDER

if TYPE_CHECKING:
    from resolvers.compiled.planner import Builder

ASSOCIATION = TYPES["PartnerAssociation"]
SUBSCRIPTION = TYPES["Subscription"]
TENANT = TYPES["Tenant"]
_PENDING: ColumnElement[str] = literal_column(f"'{AssociationStatus.PENDING.value}'")


def refusal(builder: Builder, nodes: Sequence[FieldNode]) -> BadUserInput | None:
    """The BAD_USER_INPUT schema/claims.pending_claims raises before reading anything (its `tenantId` decoded), by
    the same call; None when it raises none."""
    sources = {argument(node, "tenantId") for node in nodes}
    if len(sources) != 1:
        return None  # pending_claims refuses to compile it
    given = next(iter(sources)).value(builder.variables)
    if isinstance(given, str):
        try:
            global_id.decode(given, "Tenant", field="tenantId")
        except BadUserInput as error:
            return error
    return None


def pending_claims(builder: Builder, nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
    sources = {argument(node, "tenantId") for node in nodes}
    if len(sources) != 1:
        raise NotCompilable("pendingClaims merged with differing tenants")
    (source,) = sources
    held = grants("pendingClaims", builder.caller.roles)
    every_tenant = any(grant.reach is RowFilter.ALL for grant in held.values())
    tenant: ColumnElement[Any] | None = None
    reached: ColumnElement[bool] | None = None  # the given tenant exists and a held grant reaches it
    if source.value(builder.variables) is not None:
        tenant = builder.bind(source, row_id(builder.decode_id, "Tenant"), Uuid())
        reached = _reaches(builder, held.values(), every_tenant, tenant)
    elif not every_tenant and builder.caller.known.tenant:
        tenant = bindparam(SCOPE_TENANT_ID, type_=Uuid())
    now = builder.clock()

    def where(rows: Any) -> list[ColumnElement[bool]]:
        conditions = [rows.c.status == _PENDING, rows.c.valid_to.is_(None), rows.c.decline_by > now]
        if tenant is not None:
            subscriptions = builder.alias(SUBSCRIPTION)
            of_tenant = select(subscriptions.c.id).where(subscriptions.c.tenant_id == tenant)
            conditions.append(rows.c.subscription_id.in_(of_tenant))
        elif not every_tenant:
            conditions.append(false())  # a token naming no tenant lists nothing
        return conditions

    page = builder.connections.root_with(
        ASSOCIATION,
        CLAIM_ORDER,
        where,
        nodes,
        allowed={"tenantId", "first", "after"},
        type_name="PartnerAssociation",
        edge_fields={},
    )
    if reached is None:
        return page
    return case((reached, func.to_json(page)), else_=sql_text.MISSING_SQL)


def _reaches(builder: Builder, held: Any, every_tenant: bool, tenant: ColumnElement[Any]) -> ColumnElement[bool]:
    """list_pending_claims' two checks on a given tenant: it exists (whoever may see it), and acting_grant finds a
    held grant whose reach covers it (auth.policy.reach_covers_tenant: ALL any; a tenant-scoped reach the caller's
    own tenant)."""
    tenants = builder.alias(TENANT)
    found = exists(select(tenants.c.id).where(tenants.c.id == tenant))
    if every_tenant:
        return found
    if any(grant.reach in TENANT_SCOPED for grant in held) and builder.caller.known.tenant:
        return and_(found, tenant == bindparam(SCOPE_TENANT_ID, type_=Uuid()))
    raise NotCompilable("pendingClaims of a tenant no held grant can reach")  # always the interpreter's NOT_FOUND
