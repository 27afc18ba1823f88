"""Who may do what: the one declarative table the resolvers enforce and the tests walk.

Three tables:
- READ: for each kind of row, the row filter each role gets. A role absent from an entity's row sees none of it.
  Row filters are applied inside the SQL of every query (auth.row_filters), so a new field cannot forget them.
- FIELDS: fields that need more than being able to read their parent (personal data, partner-private detail):
  (GraphQL type, field) -> the entity whose READ row says who reads the field, decided per row (`field_rule`): a
  field is readable on a row iff some held role that reaches that row may read it. A caller who can read the
  parent row but not the field gets FORBIDDEN on that field only (partial data). ROWS names each type's entity.
- OPERATIONS: for each query and mutation, the roles that may call it and the reach each role has over the target.
  A role absent from an operation gets FORBIDDEN without any lookup; a target outside the role's reach is
  NOT_FOUND, exactly like a target that does not exist.

Rules (issue 3): tenant roles read their own tenant; only OWNER changes a DPOR (one at a time or, issue 14, up to
500 at once); OWNER and SERVICE_ADMIN link and unlink the other association types; DELEGATED_ADMIN reads its
customer tenant like a tenant admin while the relationship is active, and links or unlinks only a PARTNER_ADMIN_LINK
naming its own partner; PARTNER sees what it is or was associated with, never contacts, never another partner's
associations, never usage outside its windows; PLATFORM_ADMIN provisions and reads everything but cannot change a
DPOR; USAGE_INGEST only ingests usage.
DPOR invitations (issue 14): a PARTNER creates, lists and revokes its own; only a tenant's OWNER previews, accepts
(setting the DPOR of its own subscriptions exactly as setDigitalPartnerOfRecord does) or declines one.
Webhooks (issue 15): a PARTNER manages endpoints told of its own events, a tenant's OWNER endpoints told of its
tenant's; each reads and redelivers its own endpoints' deliveries only.
Claims (issue 14): a DELEGATED_ADMIN claims partner of record for its own partner on its customer's subscriptions;
only the OWNER declines a claim; the tenant's admins (and platform admins) list pending claims.

Longer than our other modules on purpose: the tables and the few functions saying how they are read (field rules,
reach over a target, role preference, conditions) stay in one file, so one file answers "who may do what".
"""

from __future__ import annotations

import enum
import functools
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
    DPOR_INVITATION = "DPOR_INVITATION"
    WEBHOOK_ENDPOINT = "WEBHOOK_ENDPOINT"


class RowFilter(enum.Enum):
    """How far a role reaches over rows of one entity. auth.row_filters turns each into SQL."""

    ALL = "ALL"
    # Rows of the tenant named by the token's `tid`.
    OWN_TENANT = "OWN_TENANT"
    # Rows of the customer tenant of an active delegated admin relationship (tid + partner_id).
    DELEGATED_TENANT = "DELEGATED_TENANT"
    # Rows tied to subscriptions the caller's partner is or was associated with.
    ATTRIBUTED = "ATTRIBUTED"
    # Rows naming the caller's partner itself (its own record, its own association rows, its own invitations).
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
    kind: str  # "query", "mutation" or "subscription"
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
        # A partner's invitations are its own business; a tenant's owner reaches one only through its code, and
        # then sees its preview (the partner's name and MPN id, message, expiry), never this row.
        Entity.DPOR_INVITATION: _frozen({Role.PARTNER: RowFilter.OWN_PARTNER, Role.PLATFORM_ADMIN: RowFilter.ALL}),
        # Webhook endpoints (issue 15) and their delivery logs are their owner's: a partner's own, a tenant's owner's
        # for its tenant. Nobody else reads one, platform admins included (an endpoint's URL is its owner's secret
        # as much as its signing secret is).
        Entity.WEBHOOK_ENDPOINT: _frozen({Role.OWNER: RowFilter.OWN_TENANT, Role.PARTNER: RowFilter.OWN_PARTNER}),
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
        # Fields naming people (token subjects of the tenant's users): read as the tenant's audit log is, by its own
        # admins and platform admins, decided per row, so a tenant admin elsewhere (or a partner) never reads another
        # tenant's users. Everyone who reads the row reads the actor's role and client instead (createdByRole, ...).
        ("PartnerAssociation", "createdBy"): Entity.AUDIT_EVENT,
        ("PartnerAssociation", "endedBy"): Entity.AUDIT_EVENT,
    }
)


# The entity whose READ table says which rows of a GraphQL type a role reaches (the parent of a FIELDS entry).
ROWS: Mapping[str, Entity] = _frozen(
    {
        "Tenant": Entity.TENANT,
        "Subscription": Entity.SUBSCRIPTION,
        "PartnerAssociation": Entity.PARTNER_ASSOCIATION,
        "UsageAggregate": Entity.USAGE,
    }
)

# Row filters decided by the row's tenant (the token's `tid`), and those decided through the caller's partner.
TENANT_SCOPED = frozenset({RowFilter.OWN_TENANT, RowFilter.DELEGATED_TENANT})
PARTNER_SCOPED = frozenset({RowFilter.ATTRIBUTED, RowFilter.OWN_PARTNER, RowFilter.ATTRIBUTED_WINDOWS})


@dataclass(frozen=True, slots=True)
class FieldRule:
    """One FIELDS entry decided for one set of held roles (a caller shape); `allows` then decides it per row.

    A field is readable on a row iff some held role that reaches THIS row may read the field: a token holding
    OWNER of tenant B and PARTNER P reads B's primary domain as B's owner, but not that of a tenant A it reaches
    only through P's attribution, since PARTNER may not read it (issue 11).

    Which role reaches a row in hand: ALL reaches every row; a tenant-scoped filter reaches the rows of the
    caller's own tenant; any other visible row was reached through the caller's partner (visibility is the union
    of the roles' filters, so a row in hand that no ALL or tenant-scoped role covers is the partner's). On a row
    of its own tenant the tenant roles decide: the partner's reach over it is not looked up (that would take SQL
    per row). This never grants more than the roles' union; it would only grant less if a partner could read a
    field a tenant admin of the same tenant cannot, which tests/auth/test_policy_matrix.py checks the table never says.
    """

    anywhere: bool  # some held role reads the field on every row (ALL)
    reaches_own_tenant: bool  # some held role reaches the parent rows of the caller's tenant
    on_own_tenant: bool  # ... and some held role reads the field on them
    through_partner: bool  # some held role reaches parent rows through the partner and reads the field on them

    def allows(self, row_tenant_id: object, caller_tenant_id: object) -> bool:
        if self.anywhere:
            return True
        if self.reaches_own_tenant and caller_tenant_id is not None and row_tenant_id == caller_tenant_id:
            return self.on_own_tenant
        return self.through_partner


@functools.cache
def field_rule(type_name: str, field: str, roles: frozenset[Role]) -> FieldRule:
    """The FIELDS entry (type, field) for callers holding exactly `roles`: computed once per shape."""
    parent, readers = READ[ROWS[type_name]], READ[FIELDS[(type_name, field)]]
    held = [role for role in roles if role in parent]

    def reads(role: Role, kinds: frozenset[RowFilter]) -> bool:
        return role in readers and (readers[role] is RowFilter.ALL or readers[role] in kinds)

    return FieldRule(
        anywhere=any(readers.get(role) is RowFilter.ALL for role in roles),
        reaches_own_tenant=any(parent[role] in TENANT_SCOPED for role in held),
        on_own_tenant=any(parent[role] in TENANT_SCOPED and reads(role, TENANT_SCOPED) for role in held),
        through_partner=any(parent[role] in PARTNER_SCOPED and reads(role, PARTNER_SCOPED) for role in held),
    )


def usage_filter(
    roles: Iterable[Role],
    *,
    caller_tenant_id: object,
    caller_partner_id: object,
    row_tenant_id: object = None,
    row_partner_id: object = None,
) -> RowFilter | None:
    """The ONE row filter of READ[USAGE] a caller reads a usage row under (None: it reads no usage).

    Usage is summed, so a multi-role caller never gets the union of its roles' filters (a tenant's usage plus the
    same usage attributed to its partner would count it twice): as in FieldRule, the role that reaches the row in
    hand decides. The usage of its own partner (`row_partner_id`: Partner.attributedUsage, a partnerId filter) and
    of a tenant other than its own (`row_tenant_id`, one it reaches through its partner) is read within the
    partner's windows; anything else under its tenant roles when it has one (the broadest single filter it holds).
    A role whose tenant or partner the token does not name keeps its filter, which then matches no row.
    """
    rules = read_filters(Entity.USAGE, roles)
    if RowFilter.ALL in rules:
        return RowFilter.ALL
    tenant_rules = sorted(rules & TENANT_SCOPED, key=lambda rule: rule.value)
    windows = RowFilter.ATTRIBUTED_WINDOWS in rules and caller_partner_id is not None
    through_partner = windows and (
        (row_partner_id is not None and row_partner_id == caller_partner_id)
        or (row_tenant_id is not None and row_tenant_id != caller_tenant_id)
    )
    if tenant_rules and caller_tenant_id is not None and not through_partner:
        return tenant_rules[0]
    if windows:
        return RowFilter.ATTRIBUTED_WINDOWS
    return min(rules, key=lambda rule: rule.value) if rules else None


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
    # Bulk DPOR changes (issue 14): the same rule as the single ones, for up to 500 subscriptions at once.
    *(
        Operation(name, "mutation", Entity.SUBSCRIPTION, _frozen({Role.OWNER: Grant(RowFilter.OWN_TENANT)}))
        for name in ("bulkSetDigitalPartnerOfRecord", "bulkRemoveDigitalPartnerOfRecord")
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
    # Claims with a decline window (issue 14, resolvers/claims.py): a partner claims with its delegated admin access
    # on its customer's subscriptions; the owner declines; the tenant's admins list what is still pending.
    Operation(
        "claimPartnerOfRecord",
        "mutation",
        Entity.SUBSCRIPTION,
        _frozen({Role.DELEGATED_ADMIN: Grant(RowFilter.DELEGATED_TENANT)}),
    ),
    Operation("declineClaim", "mutation", Entity.SUBSCRIPTION, _frozen({Role.OWNER: Grant(RowFilter.OWN_TENANT)})),
    Operation(
        "pendingClaims",
        "query",
        Entity.TENANT,
        _grants({**_TENANT_ADMINS, Role.PLATFORM_ADMIN: RowFilter.ALL}),
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
    # DPOR invitations (issue 14). The partner's side: creating one reaches no tenant (target None); revoking and
    # listing (Partner.dporInvitations) reach the partner's own invitations, platform admins list any partner's.
    Operation("createDporInvitation", "mutation", None, _frozen({Role.PARTNER: Grant(RowFilter.OWN_PARTNER)})),
    Operation(
        "revokeDporInvitation",
        "mutation",
        Entity.DPOR_INVITATION,
        _frozen({Role.PARTNER: Grant(RowFilter.OWN_PARTNER)}),
    ),
    Operation("dporInvitations", "query", Entity.DPOR_INVITATION, _reads(Entity.DPOR_INVITATION)),
    # The owner's side. A code names no tenant (target None): any tenant's owner may preview or decline it; an
    # acceptance changes the DPOR of subscriptions of the owner's own tenant only, through setDigitalPartnerOfRecord's
    # own steps (so its grant, CHANGES_NEED_ACTIVE_TARGET and version checks apply to every subscription too).
    # Service and co-admins, delegated admins, partners and platform admins are FORBIDDEN: the DPOR is the owner's.
    Operation("dporInvitation", "query", None, _frozen({Role.OWNER: Grant(RowFilter.OWN_TENANT)})),
    Operation(
        "acceptDporInvitation",
        "mutation",
        Entity.SUBSCRIPTION,
        _frozen({Role.OWNER: Grant(RowFilter.OWN_TENANT)}),
    ),
    Operation("declineDporInvitation", "mutation", None, _frozen({Role.OWNER: Grant(RowFilter.OWN_TENANT)})),
    # Webhooks (issue 15, resolvers/webhooks/). Creating one reaches no existing row (target None): the endpoint
    # belongs to the acting role's tenant (OWNER) or partner (PARTNER). The others reach the caller's own endpoints.
    Operation("createWebhookEndpoint", "mutation", None, _reads(Entity.WEBHOOK_ENDPOINT)),
    *(
        Operation(name, kind, Entity.WEBHOOK_ENDPOINT, _reads(Entity.WEBHOOK_ENDPOINT))
        for name, kind in (
            ("webhookEndpoints", "query"),
            ("webhookDeliveries", "query"),
            ("updateWebhookEndpoint", "mutation"),
            ("disableWebhookEndpoint", "mutation"),
            ("rotateWebhookSecret", "mutation"),
            ("deleteWebhookEndpoint", "mutation"),
            ("redeliverWebhook", "mutation"),
        )
    ),
    # GraphQL subscriptions (issue 15, resolvers/change_streams.py): the tenant copy of change events is the audit
    # event's content (the actor's subject included), read by whoever reads the tenant's audit log; a partner's own
    # copy (no personal data) by the partner it concerns.
    Operation("associationChanges", "subscription", Entity.AUDIT_EVENT, _reads(Entity.AUDIT_EVENT)),
    Operation("attributionChanges", "subscription", None, _frozen({Role.PARTNER: Grant(RowFilter.OWN_PARTNER)})),
]

OPERATIONS: Mapping[str, Operation] = _frozen({operation.name: operation for operation in _OPERATIONS})


def read_filters(entity: Entity, roles: Iterable[Role]) -> frozenset[RowFilter]:
    """The row filters a set of roles gets on an entity: their union is what the caller sees."""
    table = READ[entity]
    return frozenset(table[role] for role in roles if role in table)


def grants(operation: str, roles: Iterable[Role]) -> dict[Role, Grant]:
    table = OPERATIONS[operation].grants
    return {role: table[role] for role in roles if role in table}


# --- How the tables are read for one target: reach, role preference, conditions ------------------------------------

# When several held roles may perform an operation, the most direct one acts (and the audit log records it).
ROLE_PREFERENCE = (
    Role.PLATFORM_ADMIN,
    Role.OWNER,
    Role.SERVICE_ADMIN,
    Role.CO_ADMIN,
    Role.DELEGATED_ADMIN,
    Role.PARTNER,
    Role.USAGE_INGEST,
)


def reach_covers_tenant(reach: RowFilter, caller_tenant_id: object, tenant_id: object) -> bool:
    """Whether a grant's reach covers rows of `tenant_id`, for a target already in hand (no SQL). Partner-scoped
    reaches never cover a mutation's target tenant: no mutation grants one."""
    if reach is RowFilter.ALL:
        return True
    return reach in TENANT_SCOPED and caller_tenant_id is not None and caller_tenant_id == tenant_id


def acting_role(
    held: Mapping[Role, Grant], caller_tenant_id: object, tenant_id: object | None
) -> tuple[Role, Grant] | None:
    """The held role that performs an operation on a target of `tenant_id` (None: the target has no tenant): the
    most preferred whose reach covers it, a role without a condition before one with (so an OWNER who also holds
    DELEGATED_ADMIN is never limited by the delegated admin's rule). None when no held role reaches the target."""
    candidates = [
        (role, held[role])
        for role in ROLE_PREFERENCE
        if role in held and (tenant_id is None or reach_covers_tenant(held[role].reach, caller_tenant_id, tenant_id))
    ]
    candidates.sort(key=lambda pair: pair[1].condition is not None)  # stable: preference kept within each group
    return candidates[0] if candidates else None


def reach_covers_owner(
    reach: RowFilter,
    *,
    caller_tenant_id: object,
    caller_partner_id: object,
    row_tenant_id: object,
    row_partner_id: object,
) -> bool:
    """Whether a grant's reach covers a row that belongs to one tenant or one partner (a webhook endpoint), for a
    row already in hand (no SQL): ALL any; a tenant-scoped reach its own tenant's; OWN_PARTNER its own partner's."""
    if reach is RowFilter.ALL:
        return True
    if reach in TENANT_SCOPED:
        return caller_tenant_id is not None and row_tenant_id == caller_tenant_id
    if reach is RowFilter.OWN_PARTNER:
        return caller_partner_id is not None and row_partner_id == caller_partner_id
    return False


def condition_holds(
    condition: Condition | None, *, is_admin_link: bool, partner_id: object, caller_partner_id: object
) -> bool:
    """Whether an association change meets the acting grant's condition (no condition: always)."""
    if condition is Condition.ADMIN_LINK_OF_OWN_PARTNER:
        return is_admin_link and caller_partner_id is not None and partner_id == caller_partner_id
    return True


def operation_reaches_partner(
    operation: str, roles: Iterable[Role], row_partner_id: object, caller_partner_id: object
) -> bool:
    """For an operation mounted on a Partner row (Partner.attributedUsage, Partner.attributedSubscriptions):
    whether a held role's grant reaches THIS partner. Without it, a token holding OWNER and PARTNER P passed the
    role check on any partner Q of the directory (OWNER reads it) and was answered under its tenant scope."""
    return any(
        grant.reach is RowFilter.ALL
        or (
            grant.reach is RowFilter.OWN_PARTNER
            and caller_partner_id is not None
            and row_partner_id == caller_partner_id
        )
        for grant in grants(operation, roles).values()
    )


def permitted_operations(roles: Iterable[Role]) -> list[str]:
    """Operations at least one of the roles may perform (for `viewer.permissions`)."""
    held = set(roles)
    return [name for name, operation in OPERATIONS.items() if held & set(operation.grants)]


# Association changes need a live target (issue 10). While a tenant is SUSPENDED or DELETED, or a subscription is not
# ACTIVE, its partners stay as they are: these operations are refused with NOT_ACTIVE (after the reach check, so a
# foreign target is still NOT_FOUND); reads still work, and ending a delegated admin relationship (revoking a
# partner's access) stays possible.
CHANGES_NEED_ACTIVE_TARGET: frozenset[str] = frozenset(
    {
        "setDigitalPartnerOfRecord",
        "removeDigitalPartnerOfRecord",
        "bulkSetDigitalPartnerOfRecord",
        "bulkRemoveDigitalPartnerOfRecord",
        "linkPartner",
        "unlinkPartner",
        "claimPartnerOfRecord",
    }
)
CHANGEABLE_TENANT_STATUSES: frozenset[TenantStatus] = frozenset({TenantStatus.ACTIVE})
CHANGEABLE_SUBSCRIPTION_STATUSES: frozenset[SubscriptionStatus] = frozenset({SubscriptionStatus.ACTIVE})
