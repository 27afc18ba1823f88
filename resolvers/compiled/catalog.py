"""What the compiler knows of the schema: each compilable object type, its table, and how each field becomes SQL.

A field missing here is simply not compilable: a document that selects it runs on the interpreter. Each entry says
what the interpreter's resolver returns, in SQL terms; the differential test
(tests/compiled/test_compiled_reads.py) holds the two to the same answer.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import ColumnElement, TableClause, and_, literal_column

from auth.policy import Entity
from db.association import PartnerAssociation
from db.audit import AuditEvent
from db.delegation import DelegatedAdminRelationship
from db.dpor_invitation import DporInvitation
from db.enums import AssociationType
from db.partner import Partner
from db.subscription import Subscription
from db.tenant import Tenant, TenantContact
from resolvers.compiled import filters
from resolvers.compiled.filters import FilterSpec, SearchSpec
from resolvers.loaders import AUDIT_ORDER, CONTACT_ORDER, HISTORY_ORDER, PARTNER_ORDER, SUBSCRIPTION_ORDER, TENANT_ORDER
from resolvers.pagination import SortKey
from resolvers.usage.aggregate_types import GroupBy


class Kind(enum.Enum):
    """How a column's value is written as the JSON the interpreter's scalar serializers produce."""

    STRING = "STRING"  # also ints, booleans and enums (stored by name): PostgreSQL's JSON is already right
    DATETIME = "DATETIME"  # ISO 8601 in UTC with "Z", microseconds only when there are some
    DATE = "DATE"
    UUID = "UUID"  # the dashed lower-case text
    GLOBAL_ID = "GLOBAL_ID"  # a Relay id: of the row's own type, or of `Column.id_type`
    IS_NULL = "IS_NULL"  # a boolean: the column holds no value (PartnerAssociation.isActive)
    EMPTY_IF_NULL = "EMPTY_IF_NULL"  # text, "" where the column holds none (PartnerClaim.evidence)


@dataclass(frozen=True)
class Column:
    """A column of the row. A GLOBAL_ID names the row's own type, unless `id_type` names another type or
    `type_column` the column holding the type's name."""

    name: str
    kind: Kind = Kind.STRING
    id_type: str | None = None
    type_column: str | None = None


@dataclass(frozen=True)
class ToOne:
    """A related object: `condition(child, parent)` picks at most one child row; `required` means the interpreter's
    field is non-null (it raises NOT_FOUND when the row is out of reach, which the compiled path leaves to it)."""

    target: str
    condition: Callable[[Any, Any], ColumnElement[bool]]
    required: bool


@dataclass(frozen=True)
class ToMany:
    """A connection of `target` rows in `key` order (first/after, edges, pageInfo, totalCount), tied to the parent
    by `condition(child, parent)`, with its `filter` argument if it has one."""

    target: str
    key: SortKey
    condition: Callable[[Any, Any], ColumnElement[bool]]
    filter: FilterSpec | None = None


@dataclass(frozen=True)
class ToList:
    """A list of related objects (not a connection): every `target` row `condition(child, parent)` picks that the
    caller may see, in the loader's `order` (column names)."""

    target: str
    condition: Callable[[Any, Any], ColumnElement[bool]]
    order: tuple[str, ...]


@dataclass(frozen=True)
class Embedded:
    """An object of a VALUE_TYPES type built from the parent's own row (PartnerAssociation.claim), null where
    `present(row)` does not hold."""

    target: str
    present: Callable[[Any], ColumnElement[bool]]


@dataclass(frozen=True)
class AttributedRows:
    """Partner.attributedSubscriptions: the subscriptions the partner row is or was associated with
    (resolvers/compiled/attributed.py), for a caller whose grant on the operation reaches that row."""


@dataclass(frozen=True)
class InvitationRows:
    """Partner.dporInvitations: the partner row's DPOR invitations (resolvers/compiled/invitations.py), for a caller
    whose grant on the operation reaches that row."""


@dataclass(frozen=True)
class InvitationStatus:
    """DporInvitation.status: resolvers.invitations.state.status at the gateway's clock, in SQL."""


@dataclass(frozen=True)
class Usage:
    """A usage field (resolvers/compiled/usage.py): the parent's usage rows, read as the interpreter's usage loader
    for `parent` (SUBSCRIPTION, TENANT or PARTNER) reads them."""

    parent: GroupBy


@dataclass(frozen=True)
class AssociationRows:
    """Subscription.partnerAssociations: the subscription's association rows at an instant, or all of them
    (resolvers/compiled/associations.py)."""


Field = (
    Column
    | ToOne
    | ToMany
    | ToList
    | Embedded
    | Usage
    | AssociationRows
    | AttributedRows
    | InvitationRows
    | InvitationStatus
)


@dataclass(frozen=True)
class ObjectType:
    name: str
    table: TableClause
    entity: Entity
    fields: Mapping[str, Field]
    # Columns the interpreter never shows (an invitation's code hash): no statement selects them, not even into a
    # page's FROM item, so no field written later can show them by mistake.
    hidden: frozenset[str] = frozenset()


def _by_id(fk: str) -> Callable[[Any, Any], ColumnElement[bool]]:
    def condition(child: Any, parent: Any) -> ColumnElement[bool]:
        return child.c.id == parent.c[fk]  # type: ignore[no-any-return]

    return condition


def _children(fk: str) -> Callable[[Any, Any], ColumnElement[bool]]:
    def condition(child: Any, parent: Any) -> ColumnElement[bool]:
        return child.c[fk] == parent.c.id  # type: ignore[no-any-return]

    return condition


def _active_dpor(child: Any, parent: Any) -> ColumnElement[bool]:
    return and_(
        child.c.subscription_id == parent.c.id,
        child.c.type == literal_column(f"'{AssociationType.DIGITAL_PARTNER_OF_RECORD.value}'"),
        child.c.valid_to.is_(None),
    )


def _is_claim(row: Any) -> ColumnElement[bool]:
    """schema/association._claim: a row made by claimPartnerOfRecord has its decline window and workload."""
    return and_(row.c.decline_by.is_not(None), row.c.claim_workload.is_not(None))


def _frozen(fields: dict[str, Field]) -> Mapping[str, Field]:
    return MappingProxyType({"id": Column("id", Kind.GLOBAL_ID), **fields})


TYPES: Mapping[str, ObjectType] = MappingProxyType(
    {
        "Subscription": ObjectType(
            "Subscription",
            Subscription.__table__,  # type: ignore[arg-type]
            Entity.SUBSCRIPTION,
            _frozen(
                {
                    "externalId": Column("external_id"),
                    "offer": Column("offer"),
                    "displayName": Column("display_name"),
                    "status": Column("status"),
                    "createdAt": Column("created_at", Kind.DATETIME),
                    "version": Column("version"),
                    "usageDataAsOf": Column("usage_data_as_of", Kind.DATE),
                    "tenant": ToOne("Tenant", _by_id("tenant_id"), required=True),
                    "digitalPartnerOfRecord": ToOne("PartnerAssociation", _active_dpor, required=False),
                    "partnerAssociations": AssociationRows(),
                    "associationHistory": ToMany("PartnerAssociation", HISTORY_ORDER, _children("subscription_id")),
                    "usage": Usage(GroupBy.SUBSCRIPTION),
                }
            ),
        ),
        "Tenant": ObjectType(
            "Tenant",
            Tenant.__table__,  # type: ignore[arg-type]
            Entity.TENANT,
            _frozen(
                {
                    "externalId": Column("external_id", Kind.UUID),
                    "displayName": Column("display_name"),
                    "countryCode": Column("country_code"),
                    "status": Column("status"),
                    "createdAt": Column("created_at", Kind.DATETIME),
                    "updatedAt": Column("updated_at", Kind.DATETIME),
                    "primaryDomain": Column("primary_domain"),
                    "subscriptions": ToMany(
                        "Subscription", SUBSCRIPTION_ORDER, _children("tenant_id"), filters.TENANT_SUBSCRIPTIONS
                    ),
                    "usage": Usage(GroupBy.TENANT),
                    # Both guarded by auth.policy.FIELDS (personal data: the tenant's admins, platform admins).
                    "contacts": ToMany("Contact", CONTACT_ORDER, _children("tenant_id")),
                    # The loader's order (resolvers.loaders.delegations_by_tenant).
                    "delegatedAdminRelationships": ToList(
                        "DelegatedAdminRelationship", _children("tenant_id"), ("created_at", "id")
                    ),
                }
            ),
        ),
        "Partner": ObjectType(
            "Partner",
            Partner.__table__,  # type: ignore[arg-type]
            Entity.PARTNER,
            _frozen(
                {
                    "mpnId": Column("mpn_id"),
                    "name": Column("name"),
                    "countryCode": Column("country_code"),
                    "createdAt": Column("created_at", Kind.DATETIME),
                    "attributedUsage": Usage(GroupBy.PARTNER),
                    "attributedSubscriptions": AttributedRows(),
                    "dporInvitations": InvitationRows(),
                }
            ),
        ),
        # createdBy / endedBy are guarded by auth.policy.FIELDS: the planner compiles them only for callers whose
        # every reaching role reads them on every row (its tenant's admins, platform admins).
        "PartnerAssociation": ObjectType(
            "PartnerAssociation",
            PartnerAssociation.__table__,  # type: ignore[arg-type]
            Entity.PARTNER_ASSOCIATION,
            _frozen(
                {
                    "type": Column("type"),
                    "validFrom": Column("valid_from", Kind.DATETIME),
                    "validTo": Column("valid_to", Kind.DATETIME),
                    "endReason": Column("end_reason"),
                    "recognitionRole": Column("recognition_role"),
                    "status": Column("status"),
                    "createdBy": Column("created_by"),
                    "createdByRole": Column("created_by_role"),
                    "createdByClientId": Column("created_by_client_id"),
                    "endedBy": Column("ended_by"),
                    "endedByRole": Column("ended_by_role"),
                    "endedByClientId": Column("ended_by_client_id"),
                    "isActive": Column("valid_to", Kind.IS_NULL),
                    "claim": Embedded("PartnerClaim", _is_claim),
                    "subscription": ToOne("Subscription", _by_id("subscription_id"), required=True),
                    "partner": ToOne("Partner", _by_id("partner_id"), required=True),
                }
            ),
        ),
        "DelegatedAdminRelationship": ObjectType(
            "DelegatedAdminRelationship",
            DelegatedAdminRelationship.__table__,  # type: ignore[arg-type]
            Entity.DELEGATED_ADMIN_RELATIONSHIP,
            _frozen(
                {
                    "status": Column("status"),
                    "createdAt": Column("created_at", Kind.DATETIME),
                    "endedAt": Column("ended_at", Kind.DATETIME),
                    "expiresAt": Column("expires_at", Kind.DATETIME),
                    "tenant": ToOne("Tenant", _by_id("tenant_id"), required=True),
                    "partner": ToOne("Partner", _by_id("partner_id"), required=False),
                }
            ),
        ),
        # `before` and `after` stay with the interpreter: JSON documents, re-serialized there.
        "AuditEvent": ObjectType(
            "AuditEvent",
            AuditEvent.__table__,  # type: ignore[arg-type]
            Entity.AUDIT_EVENT,
            _frozen(
                {
                    "occurredAt": Column("occurred_at", Kind.DATETIME),
                    "requestId": Column("request_id"),
                    "correlationId": Column("correlation_id"),
                    "actorSubject": Column("actor_subject"),
                    "actorRole": Column("actor_role"),
                    "actorClientId": Column("actor_client_id"),
                    "action": Column("action"),
                    "targetType": Column("target_type"),
                    "targetId": Column("target_id", Kind.GLOBAL_ID, type_column="target_type"),
                    "tenantId": Column("tenant_id", Kind.GLOBAL_ID, id_type="Tenant"),
                    "subscriptionId": Column("subscription_id", Kind.GLOBAL_ID, id_type="Subscription"),
                }
            ),
        ),
    }
)

# Object types that are no Node (never a root's or `node`'s answer): reached only through a field.
VALUE_TYPES: Mapping[str, ObjectType] = MappingProxyType(
    {
        "Contact": ObjectType(
            "Contact",
            TenantContact.__table__,  # type: ignore[arg-type]
            Entity.CONTACT,
            MappingProxyType(
                {
                    "name": Column("name"),
                    "email": Column("email"),
                    "phone": Column("phone"),
                    "createdAt": Column("created_at", Kind.DATETIME),
                }
            ),
        ),
        # PartnerAssociation.claim: columns of the association's own row.
        "PartnerClaim": ObjectType(
            "PartnerClaim",
            PartnerAssociation.__table__,  # type: ignore[arg-type]
            Entity.PARTNER_ASSOCIATION,
            MappingProxyType(
                {
                    "workload": Column("claim_workload"),
                    "evidence": Column("claim_evidence", Kind.EMPTY_IF_NULL),
                    "declineBy": Column("decline_by", Kind.DATETIME),
                }
            ),
        ),
        # Partner.dporInvitations' rows: every field of schema/dpor_invitation.DporInvitation (its id a global id of
        # the type, though it is no Node), never its code hash.
        "DporInvitation": ObjectType(
            "DporInvitation",
            DporInvitation.__table__,  # type: ignore[arg-type]
            Entity.DPOR_INVITATION,
            MappingProxyType(
                {
                    "id": Column("id", Kind.GLOBAL_ID),
                    "message": Column("message"),
                    "createdAt": Column("created_at", Kind.DATETIME),
                    "expiresAt": Column("expires_at", Kind.DATETIME),
                    "maxRedemptions": Column("max_redemptions"),
                    "redemptions": Column("redemptions"),
                    "revokedAt": Column("revoked_at", Kind.DATETIME),
                    "status": InvitationStatus(),
                }
            ),
            hidden=frozenset({"code_hash"}),
        ),
    }
)
OBJECTS: Mapping[str, ObjectType] = MappingProxyType({**TYPES, **VALUE_TYPES})

# Interfaces every compilable Node type (TYPES) implements (for `... on Node` fragments).
INTERFACES = frozenset({"Node"})

# Root fields fetching one object by id: the type the id must name (None: `node`, any type, null when out of
# reach; the others are guarded by auth.policy.OPERATIONS and NOT_FOUND when out of reach).
BY_ID_ROOTS: Mapping[str, str | None] = MappingProxyType(
    {"node": None, "subscription": "Subscription", "tenant": "Tenant", "partner": "Partner"}
)

# Root connections (guarded by auth.policy.OPERATIONS): every visible row the filter keeps, in the key's order.
CONNECTION_ROOTS: Mapping[str, tuple[str, SortKey, FilterSpec | SearchSpec | None]] = MappingProxyType(
    {
        "subscriptions": ("Subscription", SUBSCRIPTION_ORDER, filters.SUBSCRIPTIONS),
        "tenants": ("Tenant", TENANT_ORDER, filters.TENANTS),
        "partners": ("Partner", PARTNER_ORDER, filters.PARTNER_SEARCH),
        "auditEvents": ("AuditEvent", AUDIT_ORDER, filters.AUDIT_EVENTS),
    }
)
