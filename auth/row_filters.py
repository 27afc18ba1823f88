"""The policy's row filters as SQL: `visible(entity, scope)` is a WHERE clause every query of that entity carries.

Enforcement lives here, in the data layer: a resolver cannot fetch a row without asking for this predicate
(resolvers go through resolvers.queries, which always applies it), so a new field cannot forget the policy.

Each predicate is built once per shape of caller (the entity, the row filters its roles get, and whether its token
named a tenant and a partner), with the caller's ids as bind parameters (`scope_tenant_id`, `scope_partner_id`):
`visibility(entity, scope)` pairs the predicate with the caller's values, which every execution passes. Statements
built from a predicate can then be cached by its shape: building and cache-keying a SQLAlchemy statement per
request cost more than running it. A statement executed without the values fails; it never matches more rows.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import BindParameter, ColumnElement, Select, Table, Uuid, and_, bindparam, false, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute

from auth.policy import Entity, RowFilter, read_filters, usage_filter
from auth.scope import CallerScope
from db.association import PartnerAssociation
from db.audit import AuditEvent
from db.delegation import DelegatedAdminRelationship
from db.dpor_invitation import DporInvitation
from db.partner import Partner
from db.subscription import Subscription
from db.tenant import Tenant, TenantContact
from db.webhook import WebhookEndpoint

SCOPE_TENANT_ID = "scope_tenant_id"
SCOPE_PARTNER_ID = "scope_partner_id"


class Known(NamedTuple):
    """Which of the caller's ids its token named (and the database knows)."""

    tenant: bool
    partner: bool


# What a predicate's SQL depends on: the entity, the caller's row filters on it, and which of its ids are known.
Shape = tuple[Entity, frozenset[RowFilter], Known]


def _tenant_id() -> BindParameter[uuid.UUID]:
    return bindparam(SCOPE_TENANT_ID, type_=Uuid())


def _partner_id() -> BindParameter[uuid.UUID]:
    return bindparam(SCOPE_PARTNER_ID, type_=Uuid())


def _attributed_subscription_ids() -> Select[uuid.UUID]:
    """Subscriptions the caller's partner is or was associated with, of any type."""
    return select(PartnerAssociation.subscription_id).where(PartnerAssociation.partner_id == _partner_id())


def _tenant_predicate(known: Known, rule: RowFilter) -> ColumnElement[bool]:
    if rule is RowFilter.ALL:
        return true()
    if rule in (RowFilter.OWN_TENANT, RowFilter.DELEGATED_TENANT) and known.tenant:
        return Tenant.id == _tenant_id()
    if rule is RowFilter.ATTRIBUTED and known.partner:
        return Tenant.id.in_(select(Subscription.tenant_id).where(Subscription.id.in_(_attributed_subscription_ids())))
    return false()


def _subscription_predicate(known: Known, rule: RowFilter) -> ColumnElement[bool]:
    if rule is RowFilter.ALL:
        return true()
    if rule in (RowFilter.OWN_TENANT, RowFilter.DELEGATED_TENANT) and known.tenant:
        return Subscription.tenant_id == _tenant_id()
    if rule is RowFilter.ATTRIBUTED and known.partner:
        return Subscription.id.in_(_attributed_subscription_ids())
    return false()


def _partner_predicate(known: Known, rule: RowFilter) -> ColumnElement[bool]:
    if rule is RowFilter.ALL:
        return true()
    if rule is RowFilter.OWN_PARTNER and known.partner:
        return Partner.id == _partner_id()
    return false()


def _association_predicate(known: Known, rule: RowFilter) -> ColumnElement[bool]:
    if rule is RowFilter.ALL:
        return true()
    if rule in (RowFilter.OWN_TENANT, RowFilter.DELEGATED_TENANT) and known.tenant:
        return PartnerAssociation.subscription_id.in_(
            select(Subscription.id).where(Subscription.tenant_id == _tenant_id())
        )
    if rule is RowFilter.OWN_PARTNER and known.partner:
        return PartnerAssociation.partner_id == _partner_id()
    return false()


def _invitation_predicate(known: Known, rule: RowFilter) -> ColumnElement[bool]:
    if rule is RowFilter.ALL:
        return true()
    if rule is RowFilter.OWN_PARTNER and known.partner:
        return DporInvitation.partner_id == _partner_id()
    return false()


def _webhook_endpoint_predicate(known: Known, rule: RowFilter) -> ColumnElement[bool]:
    if rule is RowFilter.ALL:
        return true()
    if rule is RowFilter.OWN_TENANT and known.tenant:
        return WebhookEndpoint.tenant_id == _tenant_id()
    if rule is RowFilter.OWN_PARTNER and known.partner:
        return WebhookEndpoint.partner_id == _partner_id()
    return false()


def _tenant_column_predicate(
    column: InstrumentedAttribute[Any],
) -> Callable[[Known, RowFilter], ColumnElement[bool]]:
    """Entities that carry a tenant id and are visible to the tenant's own admins (and platform admins) only."""

    def predicate(known: Known, rule: RowFilter) -> ColumnElement[bool]:
        if rule is RowFilter.ALL:
            return true()
        if rule in (RowFilter.OWN_TENANT, RowFilter.DELEGATED_TENANT) and known.tenant:
            return column == _tenant_id()
        return false()

    return predicate


_PREDICATES: dict[Entity, Callable[[Known, RowFilter], ColumnElement[bool]]] = {
    Entity.TENANT: _tenant_predicate,
    Entity.SUBSCRIPTION: _subscription_predicate,
    Entity.PARTNER: _partner_predicate,
    Entity.PARTNER_ASSOCIATION: _association_predicate,
    Entity.CONTACT: _tenant_column_predicate(TenantContact.tenant_id),
    Entity.DELEGATED_ADMIN_RELATIONSHIP: _tenant_column_predicate(DelegatedAdminRelationship.tenant_id),
    Entity.AUDIT_EVENT: _tenant_column_predicate(AuditEvent.tenant_id),
    Entity.DPOR_INVITATION: _invitation_predicate,
    Entity.WEBHOOK_ENDPOINT: _webhook_endpoint_predicate,
}


def shape(entity: Entity, scope: CallerScope) -> Shape:
    return entity, read_filters(entity, scope.roles), Known(scope.tenant_id is not None, scope.partner_id is not None)


@functools.cache
def predicate(shape: Shape) -> ColumnElement[bool]:
    """Rows of the entity a caller of this shape may see: the union over its roles' row filters (false when it has
    none). The same object for every caller of the shape."""
    entity, rules, known = shape
    if RowFilter.ALL in rules:
        return true()
    return or_(false(), *(_PREDICATES[entity](known, rule) for rule in sorted(rules, key=lambda r: r.value)))


@dataclass(frozen=True, slots=True)
class Visibility:
    """What one caller may see of one entity: the predicate (by shape) and the values of its bind parameters."""

    shape: Shape
    parameters: Mapping[str, uuid.UUID | None]

    @property
    def predicate(self) -> ColumnElement[bool]:
        return predicate(self.shape)


def parameters(scope: CallerScope) -> Mapping[str, uuid.UUID | None]:
    """The values of the predicates' bind parameters for this caller (the same for every entity)."""
    return {SCOPE_TENANT_ID: scope.tenant_id, SCOPE_PARTNER_ID: scope.partner_id}


def visibility(entity: Entity, scope: CallerScope) -> Visibility:
    return Visibility(shape(entity, scope), parameters(scope))


# Usage. Its rows are the rollups', read alone (a tenant's usage) or joined to the partner associations (usage
# attributed inside a partner's windows), and they are summed: a caller reads them under ONE of its roles' filters,
# the one auth.policy.usage_filter picks for the row in hand, never under the union the other entities get.


@dataclass(frozen=True, slots=True)
class UsageVisibility:
    """What one caller may see of the usage of one row (or of the whole platform): its usage filter (by shape,
    the rule set holding that one filter) and the values of its bind parameters."""

    shape: Shape
    parameters: Mapping[str, uuid.UUID | None]

    @property
    def attributed(self) -> bool:
        """Whether the usage is a partner's: readable only joined to its associations, inside their windows."""
        return RowFilter.ATTRIBUTED_WINDOWS in self.shape[1]


def usage_visibility(
    scope: CallerScope, *, row_tenant_id: uuid.UUID | None = None, row_partner_id: uuid.UUID | None = None
) -> UsageVisibility | None:
    """The caller's usage filter for a row of this tenant or partner (or for none in particular); None when its
    roles read no usage."""
    rule = usage_filter(
        scope.roles,
        caller_tenant_id=scope.tenant_id,
        caller_partner_id=scope.partner_id,
        row_tenant_id=row_tenant_id,
        row_partner_id=row_partner_id,
    )
    if rule is None:
        return None
    known = Known(scope.tenant_id is not None, scope.partner_id is not None)
    return UsageVisibility((Entity.USAGE, frozenset({rule}), known), parameters(scope))


def _of_tenant(subscription_id: ColumnElement[uuid.UUID]) -> ColumnElement[bool]:
    return subscription_id.in_(select(Subscription.id).where(Subscription.tenant_id == _tenant_id()))


@functools.lru_cache(maxsize=256)
def usage_predicate(shape: Shape, rollup: Table, *, joined: bool) -> ColumnElement[bool]:
    """Usage rows of `rollup` (the daily or the monthly rollup table) a caller of this shape may see; `joined`: the
    statement joins them to the partner associations on the subscription, which a partner's usage needs (without
    them its windows cannot be told, so it sees nothing). Joined, it has two sides: `rollup_side` and
    `association_side`, which a partner-scoped read puts where it reads its associations, once
    (resolvers/usage/statements.association_spans)."""
    if joined:
        return and_(rollup_side(shape, rollup), association_side(shape))
    rule, known = _usage_rule(shape)
    if rule is RowFilter.ALL:
        return true()
    if rule in (RowFilter.OWN_TENANT, RowFilter.DELEGATED_TENANT) and known.tenant:
        return _of_tenant(rollup.c.subscription_id)
    return false()


@functools.lru_cache(maxsize=256)
def rollup_side(shape: Shape, rollup: Table) -> ColumnElement[bool]:
    """The rollup's side of a joined read's usage filter."""
    rule, known = _usage_rule(shape)
    if rule is RowFilter.ALL or (rule is RowFilter.ATTRIBUTED_WINDOWS and known.partner):
        return true()
    if rule in (RowFilter.OWN_TENANT, RowFilter.DELEGATED_TENANT) and known.tenant:
        # On both sides of the join, so PostgreSQL can start from either table's subscription index.
        return _of_tenant(rollup.c.subscription_id)
    return false()


@functools.lru_cache(maxsize=256)
def association_side(shape: Shape) -> ColumnElement[bool]:
    """The associations' side of a joined read's usage filter: a partner's own associations, a tenant's."""
    rule, known = _usage_rule(shape)
    associations: Table = PartnerAssociation.__table__  # type: ignore[assignment]
    if rule is RowFilter.ALL:
        return true()
    if rule in (RowFilter.OWN_TENANT, RowFilter.DELEGATED_TENANT) and known.tenant:
        return _of_tenant(associations.c.subscription_id)
    if rule is RowFilter.ATTRIBUTED_WINDOWS and known.partner:
        return associations.c.partner_id == _partner_id()
    return false()


def _usage_rule(shape: Shape) -> tuple[RowFilter, Known]:
    entity, rules, known = shape
    assert entity is Entity.USAGE and len(rules) == 1, shape
    (rule,) = rules
    return rule, known
