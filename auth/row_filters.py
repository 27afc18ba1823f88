"""The policy's row filters as SQL: `visible(entity, scope)` is a WHERE clause every query of that entity carries.

Enforcement lives here, in the data layer: a resolver cannot fetch a row without asking for this predicate
(resolvers go through resolvers.queries, which always applies it), so a new field cannot forget the policy.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Select, false, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute

from auth.policy import Entity, RowFilter, read_filters
from auth.scope import CallerScope
from db.association import PartnerAssociation
from db.audit import AuditEvent
from db.delegation import DelegatedAdminRelationship
from db.partner import Partner
from db.subscription import Subscription
from db.tenant import Tenant, TenantContact


def _attributed_subscription_ids(partner_id: uuid.UUID) -> Select[uuid.UUID]:
    """Subscriptions the partner is or was associated with, of any type."""
    return select(PartnerAssociation.subscription_id).where(PartnerAssociation.partner_id == partner_id)


def _tenant_predicate(scope: CallerScope, rule: RowFilter) -> ColumnElement[bool]:
    if rule is RowFilter.ALL:
        return true()
    if rule in (RowFilter.OWN_TENANT, RowFilter.DELEGATED_TENANT) and scope.tenant_id:
        return Tenant.id == scope.tenant_id
    if rule is RowFilter.ATTRIBUTED and scope.partner_id:
        return Tenant.id.in_(
            select(Subscription.tenant_id).where(Subscription.id.in_(_attributed_subscription_ids(scope.partner_id)))
        )
    return false()


def _subscription_predicate(scope: CallerScope, rule: RowFilter) -> ColumnElement[bool]:
    if rule is RowFilter.ALL:
        return true()
    if rule in (RowFilter.OWN_TENANT, RowFilter.DELEGATED_TENANT) and scope.tenant_id:
        return Subscription.tenant_id == scope.tenant_id
    if rule is RowFilter.ATTRIBUTED and scope.partner_id:
        return Subscription.id.in_(_attributed_subscription_ids(scope.partner_id))
    return false()


def _partner_predicate(scope: CallerScope, rule: RowFilter) -> ColumnElement[bool]:
    if rule is RowFilter.ALL:
        return true()
    if rule is RowFilter.OWN_PARTNER and scope.partner_id:
        return Partner.id == scope.partner_id
    return false()


def _association_predicate(scope: CallerScope, rule: RowFilter) -> ColumnElement[bool]:
    if rule is RowFilter.ALL:
        return true()
    if rule in (RowFilter.OWN_TENANT, RowFilter.DELEGATED_TENANT) and scope.tenant_id:
        return PartnerAssociation.subscription_id.in_(
            select(Subscription.id).where(Subscription.tenant_id == scope.tenant_id)
        )
    if rule is RowFilter.OWN_PARTNER and scope.partner_id:
        return PartnerAssociation.partner_id == scope.partner_id
    return false()


def _tenant_column_predicate(
    column: InstrumentedAttribute[Any],
) -> Callable[[CallerScope, RowFilter], ColumnElement[bool]]:
    """Entities that carry a tenant id and are visible to the tenant's own admins (and platform admins) only."""

    def predicate(scope: CallerScope, rule: RowFilter) -> ColumnElement[bool]:
        if rule is RowFilter.ALL:
            return true()
        if rule in (RowFilter.OWN_TENANT, RowFilter.DELEGATED_TENANT) and scope.tenant_id:
            return column == scope.tenant_id
        return false()

    return predicate


_PREDICATES: dict[Entity, Callable[[CallerScope, RowFilter], ColumnElement[bool]]] = {
    Entity.TENANT: _tenant_predicate,
    Entity.SUBSCRIPTION: _subscription_predicate,
    Entity.PARTNER: _partner_predicate,
    Entity.PARTNER_ASSOCIATION: _association_predicate,
    Entity.CONTACT: _tenant_column_predicate(TenantContact.tenant_id),
    Entity.DELEGATED_ADMIN_RELATIONSHIP: _tenant_column_predicate(DelegatedAdminRelationship.tenant_id),
    Entity.AUDIT_EVENT: _tenant_column_predicate(AuditEvent.tenant_id),
}


def visible(entity: Entity, scope: CallerScope) -> ColumnElement[bool]:
    """Rows of `entity` the caller may see: the union over its roles' row filters (false when it has none)."""
    rules = read_filters(entity, scope.roles)
    if RowFilter.ALL in rules:
        return true()
    predicates = [_PREDICATES[entity](scope, rule) for rule in sorted(rules, key=lambda r: r.value)]
    return or_(false(), *predicates)


def can_read(entity: Entity, scope: CallerScope) -> bool:
    """Whether the caller's roles read this entity at all (a field-level check, no SQL)."""
    return bool(read_filters(entity, scope.roles))
