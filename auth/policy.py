"""Who may do what: the one declarative table the resolvers enforce and the tests walk.

Three tables:
- READ: for each kind of row, the row filter each role gets. A role absent from an entity's row sees none of it.
  Row filters are applied inside the SQL of every query (auth.row_filters), so a new field cannot forget them.
- FIELDS: fields that need more than being able to read their parent (personal data, partner-private detail).
  A caller who can read the parent but not the field gets FORBIDDEN on that field only (partial data).
- OPERATIONS: for each query and mutation, the roles that may call it and the reach each role has over the target.
  A role absent from an operation gets FORBIDDEN without any lookup; a target outside the role's reach is
  NOT_FOUND, exactly like a target that does not exist.

Rules (issue 3): tenant roles read their own tenant; only OWNER changes a DPOR; OWNER and SERVICE_ADMIN link and
unlink the other association types; DELEGATED_ADMIN reads its customer tenant like a tenant admin while the
relationship is active, and links or unlinks only a PARTNER_ADMIN_LINK naming its own partner; PARTNER sees what it
is or was associated with, never contacts, never another partner's associations, never usage outside its windows;
PLATFORM_ADMIN provisions and reads everything but cannot change a DPOR; USAGE_INGEST only ingests usage.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar

from auth.principal import Role
from db.enums import SubscriptionStatus, TenantStatus


class Entity(enum.Enum):
    TENANT = "TENANT"
    CONTACT = "CONTACT"
    SUBSCRIPTION = "SUBSCRIPTION"
    PARTNER = "PARTNER"
    PARTNER_ASSOCIATION = "PARTNER_ASSOCIATION"
    DELEGATED_ADMIN_RELATIONSHIP = "DELEGATED_ADMIN_RELATIONSHIP"
    USAGE = "USAGE"
    AUDIT_EVENT = "AUDIT_EVENT"


class RowFilter(enum.Enum):
    """How far a role reaches over rows of one entity. auth.row_filters turns each into SQL."""

    ALL = "ALL"
    # Rows of the tenant named by the token's `tid`.
    OWN_TENANT = "OWN_TENANT"
    # Rows of the customer tenant of an active delegated admin relationship (tid + partner_id).
    DELEGATED_TENANT = "DELEGATED_TENANT"
    # Rows tied to subscriptions the caller's partner is or was associated with.
    ATTRIBUTED = "ATTRIBUTED"
    # Rows naming the caller's partner itself (its own record, its own association rows).
    OWN_PARTNER = "OWN_PARTNER"
    # Usage inside the caller's partner association windows only.
    ATTRIBUTED_WINDOWS = "ATTRIBUTED_WINDOWS"


class Condition(enum.Enum):
    """An extra rule on a mutation's input, beyond reaching the target."""

    # The association is a PARTNER_ADMIN_LINK and names the caller's own partner.
    ADMIN_LINK_OF_OWN_PARTNER = "ADMIN_LINK_OF_OWN_PARTNER"


@dataclass(frozen=True)
class Grant:
    """A role's right to an operation: over which rows of the target entity, under which condition."""

    reach: RowFilter
    condition: Condition | None = None


@dataclass(frozen=True)
class Operation:
    name: str
    kind: str  # "query" or "mutation"
    target: Entity | None  # the entity whose row filter bounds the operation (None: nothing to reach)
    grants: Mapping[Role, Grant]


K = TypeVar("K")
V = TypeVar("V")


def _frozen(mapping: dict[K, V]) -> Mapping[K, V]:
    return MappingProxyType(mapping)


_TENANT_ADMINS = {
    Role.OWNER: RowFilter.OWN_TENANT,
    Role.SERVICE_ADMIN: RowFilter.OWN_TENANT,
    Role.CO_ADMIN: RowFilter.OWN_TENANT,
    Role.DELEGATED_ADMIN: RowFilter.DELEGATED_TENANT,
}

READ: Mapping[Entity, Mapping[Role, RowFilter]] = _frozen(
    {
        Entity.TENANT: _frozen(
            _TENANT_ADMINS | {Role.PARTNER: RowFilter.ATTRIBUTED, Role.PLATFORM_ADMIN: RowFilter.ALL}
        ),
        Entity.CONTACT: _frozen(_TENANT_ADMINS | {Role.PLATFORM_ADMIN: RowFilter.ALL}),
        Entity.SUBSCRIPTION: _frozen(
            _TENANT_ADMINS | {Role.PARTNER: RowFilter.ATTRIBUTED, Role.PLATFORM_ADMIN: RowFilter.ALL}
        ),
        # The partner directory: tenant roles need it to pick a partner; a partner sees only itself.
        Entity.PARTNER: _frozen(
            {
                role: RowFilter.ALL
                for role in (
                    Role.OWNER,
                    Role.SERVICE_ADMIN,
                    Role.CO_ADMIN,
                    Role.DELEGATED_ADMIN,
                    Role.PLATFORM_ADMIN,
                )
            }
            | {Role.PARTNER: RowFilter.OWN_PARTNER}
        ),
        Entity.PARTNER_ASSOCIATION: _frozen(
            _TENANT_ADMINS | {Role.PARTNER: RowFilter.OWN_PARTNER, Role.PLATFORM_ADMIN: RowFilter.ALL}
        ),
        Entity.DELEGATED_ADMIN_RELATIONSHIP: _frozen(_TENANT_ADMINS | {Role.PLATFORM_ADMIN: RowFilter.ALL}),
        Entity.USAGE: _frozen(
            _TENANT_ADMINS | {Role.PARTNER: RowFilter.ATTRIBUTED_WINDOWS, Role.PLATFORM_ADMIN: RowFilter.ALL}
        ),
        Entity.AUDIT_EVENT: _frozen(_TENANT_ADMINS | {Role.PLATFORM_ADMIN: RowFilter.ALL}),
    }
)

# (GraphQL type, field) -> the entity whose READ table decides who may read the field.
FIELDS: Mapping[tuple[str, str], Entity] = _frozen(
    {
        ("Tenant", "contacts"): Entity.CONTACT,
        # A partner sees a tenant's display name and country; the rest is for the tenant's own admins.
        ("Tenant", "primaryDomain"): Entity.CONTACT,
        ("Tenant", "delegatedAdminRelationships"): Entity.DELEGATED_ADMIN_RELATIONSHIP,
        ("Tenant", "usage"): Entity.USAGE,
        ("Subscription", "associationHistory"): Entity.PARTNER_ASSOCIATION,
        ("Subscription", "usage"): Entity.USAGE,
    }
)


def _grants(roles: Mapping[Role, RowFilter]) -> Mapping[Role, Grant]:
    return _frozen({role: Grant(reach) for role, reach in roles.items()})


def _reads(entity: Entity) -> Mapping[Role, Grant]:
    return _grants(dict(READ[entity]))


_ADMIN_ONLY = _frozen({Role.PLATFORM_ADMIN: Grant(RowFilter.ALL)})

_OPERATIONS: list[Operation] = [
    # Queries: the roles that read the entity; rows are filtered by the same table.
    Operation("tenant", "query", Entity.TENANT, _reads(Entity.TENANT)),
    Operation("tenants", "query", Entity.TENANT, _reads(Entity.TENANT)),
    Operation("subscription", "query", Entity.SUBSCRIPTION, _reads(Entity.SUBSCRIPTION)),
    Operation("subscriptions", "query", Entity.SUBSCRIPTION, _reads(Entity.SUBSCRIPTION)),
    Operation("partner", "query", Entity.PARTNER, _reads(Entity.PARTNER)),
    Operation("partnerByMpnId", "query", Entity.PARTNER, _reads(Entity.PARTNER)),
    Operation("partners", "query", Entity.PARTNER, _reads(Entity.PARTNER)),
    Operation(
        "attributedSubscriptions",
        "query",
        Entity.PARTNER_ASSOCIATION,
        _frozen({Role.PARTNER: Grant(RowFilter.OWN_PARTNER), Role.PLATFORM_ADMIN: Grant(RowFilter.ALL)}),
    ),
    Operation("auditEvents", "query", Entity.AUDIT_EVENT, _reads(Entity.AUDIT_EVENT)),
    Operation("usageAggregates", "query", Entity.USAGE, _reads(Entity.USAGE)),
    # Partner.attributedUsage: a partner's own attributed usage (platform admins: any partner's).
    Operation(
        "attributedUsage",
        "query",
        Entity.USAGE,
        _frozen({Role.PARTNER: Grant(RowFilter.OWN_PARTNER), Role.PLATFORM_ADMIN: Grant(RowFilter.ALL)}),
    ),
    # Partner associations.
    Operation(
        "setDigitalPartnerOfRecord",
        "mutation",
        Entity.SUBSCRIPTION,
        _frozen({Role.OWNER: Grant(RowFilter.OWN_TENANT)}),
    ),
    Operation(
        "removeDigitalPartnerOfRecord",
        "mutation",
        Entity.SUBSCRIPTION,
        _frozen({Role.OWNER: Grant(RowFilter.OWN_TENANT)}),
    ),
    *(
        Operation(
            name,
            "mutation",
            Entity.SUBSCRIPTION,
            _frozen(
                {
                    Role.OWNER: Grant(RowFilter.OWN_TENANT),
                    Role.SERVICE_ADMIN: Grant(RowFilter.OWN_TENANT),
                    Role.DELEGATED_ADMIN: Grant(RowFilter.DELEGATED_TENANT, Condition.ADMIN_LINK_OF_OWN_PARTNER),
                }
            ),
        )
        for name in ("linkPartner", "unlinkPartner")
    ),
    # Provisioning, for admin tooling.
    Operation("createTenant", "mutation", None, _ADMIN_ONLY),
    Operation("updateTenant", "mutation", Entity.TENANT, _ADMIN_ONLY),
    Operation("addTenantContact", "mutation", Entity.TENANT, _ADMIN_ONLY),
    Operation("createPartner", "mutation", None, _ADMIN_ONLY),
    Operation("createSubscription", "mutation", Entity.TENANT, _ADMIN_ONLY),
    Operation("setSubscriptionStatus", "mutation", Entity.SUBSCRIPTION, _ADMIN_ONLY),
    Operation("createDelegatedAdminRelationship", "mutation", Entity.TENANT, _ADMIN_ONLY),
    Operation(
        "endDelegatedAdminRelationship",
        "mutation",
        Entity.DELEGATED_ADMIN_RELATIONSHIP,
        _frozen({Role.PLATFORM_ADMIN: Grant(RowFilter.ALL), Role.OWNER: Grant(RowFilter.OWN_TENANT)}),
    ),
    # Usage.
    Operation("ingestUsage", "mutation", None, _frozen({Role.USAGE_INGEST: Grant(RowFilter.ALL)})),
]

OPERATIONS: Mapping[str, Operation] = _frozen({operation.name: operation for operation in _OPERATIONS})


def read_filters(entity: Entity, roles: Iterable[Role]) -> frozenset[RowFilter]:
    """The row filters a set of roles gets on an entity: their union is what the caller sees."""
    table = READ[entity]
    return frozenset(table[role] for role in roles if role in table)


def grants(operation: str, roles: Iterable[Role]) -> dict[Role, Grant]:
    table = OPERATIONS[operation].grants
    return {role: table[role] for role in roles if role in table}


def permitted_operations(roles: Iterable[Role]) -> list[str]:
    """Operations at least one of the roles may perform (for `viewer.permissions`)."""
    held = set(roles)
    return [name for name, operation in OPERATIONS.items() if held & set(operation.grants)]


# Association changes need a live target (issue 10). While a tenant is SUSPENDED or DELETED, or a subscription is not
# ACTIVE, its partners stay as they are: these operations are refused with NOT_ACTIVE (after the reach check, so a
# foreign target is still NOT_FOUND); reads still work, and ending a delegated admin relationship (revoking a
# partner's access) stays possible.
CHANGES_NEED_ACTIVE_TARGET: frozenset[str] = frozenset(
    {"setDigitalPartnerOfRecord", "removeDigitalPartnerOfRecord", "linkPartner", "unlinkPartner"}
)
CHANGEABLE_TENANT_STATUSES: frozenset[TenantStatus] = frozenset({TenantStatus.ACTIVE})
CHANGEABLE_SUBSCRIPTION_STATUSES: frozenset[SubscriptionStatus] = frozenset({SubscriptionStatus.ACTIVE})

# Fields naming people (token subjects of the tenant's users), readable only by a caller whose row filter on the
# entity reaches the row's own tenant: the tenant's admins and platform admins, as for its audit log. Decided per
# row, not per role, so a caller who is a tenant admin elsewhere (or a partner) never reads another tenant's users.
# Everyone who reads the row reads the actor's role and client instead (createdByRole, createdByClientId, ...).
TENANT_PERSONAL_FIELDS: Mapping[tuple[str, str], Entity] = _frozen(
    {
        ("PartnerAssociation", "createdBy"): Entity.AUDIT_EVENT,
        ("PartnerAssociation", "endedBy"): Entity.AUDIT_EVENT,
    }
)
