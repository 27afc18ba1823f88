"""The authorization matrix, derived from auth.policy and walked cell by cell over HTTP on every backend.

Each cell is one caller (every role, and no token) x one operation (every query and mutation in the policy table)
x one target (the caller's own tenant side, or another tenant's). The expected outcome is computed from the table:
no grant -> FORBIDDEN; a grant whose reach covers the target -> OK; otherwise NOT_FOUND for single objects and
absent from the result for lists. A few rules of the product are also checked against the table directly, so the
derivation cannot drift from the specification unnoticed.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from auth import policy
from auth.policy import OPERATIONS, RowFilter
from auth.principal import Principal, Role
from db.audit import AuditEvent
from db.delegation import DelegatedAdminRelationship
from db.engine import Database
from db.enums import AssociationType
from db.tenant import TenantContact
from db.usage import UsageRecord
from resolvers.usage.rollups import rebuild_rollups
from schema import global_id
from tests import factories
from tests.api import Api, error_codes, principal


class Outcome(enum.Enum):
    OK = "OK"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    ABSENT = "ABSENT"  # a list answered without the target in it
    UNAUTHENTICATED = "UNAUTHENTICATED"


TENANT_A, TENANT_B = uuid.UUID(int=0xA), uuid.UUID(int=0xB)
# P1: DPOR on A's subscription (the PARTNER caller). P2: delegated admin on A, with an admin link there.
# P3: DPOR on B's subscription. P4: delegated admin on B. P5: a partner with no relationships.
MPN = {"P1": "101", "P2": "102", "P3": "103", "P4": "104", "P5": "105"}

CALLERS: dict[str, Principal | None] = {
    "no-token": None,
    "owner": principal(Role.OWNER, tenant=TENANT_A),
    "service-admin": principal(Role.SERVICE_ADMIN, tenant=TENANT_A),
    "co-admin": principal(Role.CO_ADMIN, tenant=TENANT_A),
    "delegated-admin": principal(Role.DELEGATED_ADMIN, tenant=TENANT_A, partner=MPN["P2"]),
    "partner": principal(Role.PARTNER, partner=MPN["P1"]),
    "platform-admin": principal(Role.PLATFORM_ADMIN),
    "usage-ingest": principal(Role.USAGE_INGEST),
}


@dataclass
class World:
    ids: dict[str, str]  # name -> global ID

    def gid(self, name: str) -> str:
        return self.ids[name]


async def build_world(database: Database) -> World:
    ids: dict[str, str] = {}
    async with database.write() as session:
        tenants = {"A": factories.tenant(external_id=TENANT_A), "B": factories.tenant(external_id=TENANT_B)}
        partners = {name: factories.partner(mpn_id=mpn) for name, mpn in MPN.items()}
        await factories.add_flushed(session, *tenants.values(), *partners.values())
        subs = {side: factories.subscription(tenant) for side, tenant in tenants.items()}
        await factories.add_flushed(session, *subs.values())
        since = datetime(2026, 1, 1, tzinfo=UTC)
        links = {
            "A": factories.association(subs["A"], partners["P2"], type=AssociationType.PARTNER_ADMIN_LINK),
            "B": factories.association(subs["B"], partners["P4"], type=AssociationType.PARTNER_ADMIN_LINK),
        }
        delegations = {
            "A": DelegatedAdminRelationship(id=uuid.uuid4(), tenant_id=tenants["A"].id, partner_id=partners["P2"].id),
            "B": DelegatedAdminRelationship(id=uuid.uuid4(), tenant_id=tenants["B"].id, partner_id=partners["P4"].id),
        }
        session.add_all(
            [
                factories.association(subs["A"], partners["P1"], valid_from=since),
                factories.association(subs["B"], partners["P3"], valid_from=since),
                *links.values(),
                *delegations.values(),
            ]
        )
        for sub in subs.values():
            session.add(
                UsageRecord(
                    subscription_id=sub.id,
                    usage_date=date(2026, 2, 1),
                    service_name="Compute",
                    meter_id="m1",
                    meter_name="D2",
                    meter_category="Compute",
                    quantity=Decimal("2"),
                    unit="Hours",
                    amount=Decimal("10.50"),
                    currency="USD",
                )
            )
        await session.flush()
        await rebuild_rollups(session)
        for side, tenant in tenants.items():
            session.add(TenantContact(tenant_id=tenant.id, name=f"Contact {side}", email=f"c@{side.lower()}.example"))
            session.add(
                AuditEvent(
                    request_id="seed",
                    actor_subject="seed",
                    actor_role="PLATFORM_ADMIN",
                    action="createTenant",
                    target_type="Tenant",
                    target_id=tenant.id.hex,
                    tenant_id=tenant.id,
                )
            )
    for side in ("A", "B"):
        ids[f"tenant{side}"] = global_id.encode("Tenant", tenants[side].id)
        ids[f"sub{side}"] = global_id.encode("Subscription", subs[side].id)
        ids[f"link{side}"] = global_id.encode("PartnerAssociation", links[side].id)
        ids[f"delegation{side}"] = global_id.encode("DelegatedAdminRelationship", delegations[side].id)
        ids[f"subExternal{side}"] = subs[side].external_id
    for name, row in partners.items():
        ids[name] = global_id.encode("Partner", row.id)
    return World(ids)


@dataclass(frozen=True)
class Cell:
    """How to exercise one operation against a side ("own" = tenant A's objects, "other" = tenant B's)."""

    document: str
    variables: Callable[[World, str], dict[str, Any]]
    # For lists: whether the target is present in the data. None: a single object or a mutation.
    present: Callable[[dict[str, Any], World, str], bool] | None = None
    # The root field of the answer, when it is not the operation's own name (a field operation).
    root: str | None = None


def _side(side: str) -> str:
    return "A" if side == "own" else "B"


def _edges(data: dict[str, Any], field: str) -> list[dict[str, Any]]:
    return [edge["node"] for edge in data[field]["edges"]]


CELLS: dict[str, Cell] = {
    "tenant": Cell("query($id: ID!) { tenant(id: $id) { id } }", lambda w, s: {"id": w.gid(f"tenant{_side(s)}")}),
    "tenants": Cell(
        "{ tenants(first: 100) { edges { node { id } } } }",
        lambda w, s: {},
        lambda d, w, s: any(n["id"] == w.gid(f"tenant{_side(s)}") for n in _edges(d, "tenants")),
    ),
    "subscription": Cell(
        "query($id: ID!) { subscription(id: $id) { id } }", lambda w, s: {"id": w.gid(f"sub{_side(s)}")}
    ),
    "subscriptions": Cell(
        "{ subscriptions(first: 100) { edges { node { id } } } }",
        lambda w, s: {},
        lambda d, w, s: any(n["id"] == w.gid(f"sub{_side(s)}") for n in _edges(d, "subscriptions")),
    ),
    "partner": Cell(
        "query($id: ID!) { partner(id: $id) { id } }", lambda w, s: {"id": w.gid("P1" if s == "own" else "P3")}
    ),
    "partnerByMpnId": Cell(
        "query($mpn: String!) { partnerByMpnId(mpnId: $mpn) { id } }",
        lambda w, s: {"mpn": MPN["P1" if s == "own" else "P3"]},
    ),
    "partners": Cell(
        "query($mpn: String!) { partners(first: 100, search: $mpn) { edges { node { id } } } }",
        lambda w, s: {"mpn": MPN["P1" if s == "own" else "P3"]},
        lambda d, w, s: any(n["id"] == w.gid("P1" if s == "own" else "P3") for n in _edges(d, "partners")),
    ),
    "attributedSubscriptions": Cell(
        "query($p: ID!) { attributedSubscriptions(first: 10, partnerId: $p) { edges { node { id } } } }",
        lambda w, s: {"p": w.gid("P1" if s == "own" else "P3")},
    ),
    "auditEvents": Cell(
        "query($t: ID!) { auditEvents(first: 10, filter: {tenantId: $t}) { edges { node { id } } } }",
        lambda w, s: {"t": w.gid(f"tenant{_side(s)}")},
        lambda d, w, s: bool(d["auditEvents"]["edges"]),
    ),
    "setDigitalPartnerOfRecord": Cell(
        "mutation($i: SetDigitalPartnerOfRecordInput!) { setDigitalPartnerOfRecord(input: $i) { changed } }",
        lambda w, s: {"i": {"subscriptionId": w.gid(f"sub{_side(s)}"), "partnerId": w.gid("P5"), "expectedVersion": 1}},
    ),
    "removeDigitalPartnerOfRecord": Cell(
        "mutation($i: RemoveDigitalPartnerOfRecordInput!) { removeDigitalPartnerOfRecord(input: $i) { changed } }",
        lambda w, s: {"i": {"subscriptionId": w.gid(f"sub{_side(s)}"), "expectedVersion": 1}},
    ),
    "linkPartner": Cell(
        "mutation($i: LinkPartnerInput!) { linkPartner(input: $i) { changed } }",
        lambda w, s: {
            "i": {
                "subscriptionId": w.gid(f"sub{_side(s)}"),
                "partnerId": w.gid("P2"),
                "type": "PARTNER_ADMIN_LINK",
                "expectedVersion": 1,
            }
        },
    ),
    "unlinkPartner": Cell(
        "mutation($i: UnlinkPartnerInput!) { unlinkPartner(input: $i) { changed } }",
        lambda w, s: {"i": {"associationId": w.gid(f"link{_side(s)}"), "expectedVersion": 1}},
    ),
    "createTenant": Cell(
        "mutation($i: CreateTenantInput!) { createTenant(input: $i) { tenant { id } } }",
        lambda w, s: {
            "i": {
                "externalId": str(uuid.uuid4()),
                "displayName": "New",
                "primaryDomain": "new.example",
                "countryCode": "FR",
            }
        },
    ),
    "updateTenant": Cell(
        "mutation($i: UpdateTenantInput!) { updateTenant(input: $i) { tenant { id } } }",
        lambda w, s: {"i": {"tenantId": w.gid(f"tenant{_side(s)}"), "displayName": "Renamed"}},
    ),
    "addTenantContact": Cell(
        "mutation($i: AddTenantContactInput!) { addTenantContact(input: $i) { contact { name } } }",
        lambda w, s: {"i": {"tenantId": w.gid(f"tenant{_side(s)}"), "name": "N", "email": "n@x.example"}},
    ),
    "createPartner": Cell(
        "mutation($i: CreatePartnerInput!) { createPartner(input: $i) { partner { id } } }",
        lambda w, s: {"i": {"mpnId": "9" + str(uuid.uuid4().int)[:8], "name": "New partner", "countryCode": "DE"}},
    ),
    "createSubscription": Cell(
        "mutation($i: CreateSubscriptionInput!) { createSubscription(input: $i) { subscription { id } } }",
        lambda w, s: {
            "i": {
                "tenantId": w.gid(f"tenant{_side(s)}"),
                "externalId": str(uuid.uuid4()),
                "offer": "INTUNE",
                "displayName": "New",
            }
        },
    ),
    "setSubscriptionStatus": Cell(
        "mutation($i: SetSubscriptionStatusInput!) { setSubscriptionStatus(input: $i) { subscription { id } } }",
        lambda w, s: {"i": {"subscriptionId": w.gid(f"sub{_side(s)}"), "status": "SUSPENDED"}},
    ),
    "createDelegatedAdminRelationship": Cell(
        "mutation($i: CreateDelegatedAdminRelationshipInput!) {"
        " createDelegatedAdminRelationship(input: $i) { relationship { status } } }",
        lambda w, s: {"i": {"tenantId": w.gid(f"tenant{_side(s)}"), "partnerId": w.gid("P5")}},
    ),
    "endDelegatedAdminRelationship": Cell(
        "mutation($i: EndDelegatedAdminRelationshipInput!) {"
        " endDelegatedAdminRelationship(input: $i) { relationship { status } } }",
        lambda w, s: {"i": {"relationshipId": w.gid(f"delegation{_side(s)}")}},
    ),
    "usageAggregates": Cell(
        'query($t: ID!) { usageAggregates(filter: {from: "2026-01-01", to: "2026-03-31", tenantId: $t},'
        " groupBy: [MONTH]) { amount currency } }",
        lambda w, s: {"t": w.gid(f"tenant{_side(s)}")},
        lambda d, w, s: bool(d["usageAggregates"]),
    ),
    "attributedUsage": Cell(
        'query($p: ID!) { partner(id: $p) { attributedUsage(from: "2026-01-01", to: "2026-03-31",'
        " groupBy: [MONTH]) { attribution { amount } } } }",
        lambda w, s: {"p": w.gid("P1" if s == "own" else "P3")},
        root="partner",
    ),
    "ingestUsage": Cell(
        "mutation($i: IngestUsageInput!) { ingestUsage(input: $i) { inserted replaced } }",
        lambda w, s: {
            "i": {
                "records": [
                    {
                        "subscriptionId": w.ids[f"subExternal{_side(s)}"],
                        "usageDate": "2026-02-02",
                        "service": "Compute",
                        "meterId": "m1",
                        "meterName": "D2",
                        "quantity": "1",
                        "unit": "Hours",
                        "amount": "5.25",
                        "currency": "USD",
                    }
                ]
            }
        },
    ),
}

# Operations in the table whose cells are not walked here (none today: every operation has its cell).
NOT_YET_MOUNTED: set[str] = set()


def expected(caller: str, operation: str, side: str) -> Outcome:
    """The outcome the policy table prescribes for one cell."""
    who = CALLERS[caller]
    if who is None:
        return Outcome.UNAUTHENTICATED
    held = policy.grants(operation, who.roles)
    if not held:
        return Outcome.FORBIDDEN
    target = OPERATIONS[operation].target
    # In this world every tenant-acting caller acts on tenant A and the partner caller is attributed to A only,
    # so every reach short of ALL covers exactly the "own" side.
    if target is None or any(grant.reach is RowFilter.ALL or side == "own" for grant in held.values()):
        return Outcome.OK
    return Outcome.ABSENT if CELLS[operation].present is not None else Outcome.NOT_FOUND


def observed(body: dict[str, Any], cell: Cell, world: World, side: str, operation: str) -> Outcome:
    codes = error_codes(body)
    if codes:
        assert len(set(codes)) == 1, body
        return Outcome(codes[0])
    if cell.present is not None:
        return Outcome.OK if cell.present(body["data"], world, side) else Outcome.ABSENT
    assert body["data"][cell.root or operation] is not None, body
    return Outcome.OK


MATRIX = [
    (caller, operation, side)
    for caller in CALLERS
    for operation in OPERATIONS
    if operation not in NOT_YET_MOUNTED
    for side in ("own", "other")
]


def test_every_operation_in_the_table_has_a_cell() -> None:
    assert set(OPERATIONS) - NOT_YET_MOUNTED == set(CELLS)


@pytest.mark.parametrize(("caller", "operation", "side"), MATRIX)
async def test_policy_cell(api: Api, database: Database, caller: str, operation: str, side: str) -> None:
    world = await build_world(database)
    cell = CELLS[operation]
    body = await api.execute(cell.document, cell.variables(world, side), as_=CALLERS[caller])
    assert observed(body, cell, world, side, operation) is expected(caller, operation, side), body


@pytest.mark.parametrize(
    ("caller", "operation", "side", "outcome"),
    [
        # Only the owner changes a DPOR, whatever else a caller holds.
        ("owner", "setDigitalPartnerOfRecord", "own", Outcome.OK),
        ("owner", "setDigitalPartnerOfRecord", "other", Outcome.NOT_FOUND),
        *[
            (c, "setDigitalPartnerOfRecord", "own", Outcome.FORBIDDEN)
            for c in ("service-admin", "co-admin", "delegated-admin", "partner", "platform-admin", "usage-ingest")
        ],
        ("service-admin", "linkPartner", "own", Outcome.OK),
        ("co-admin", "linkPartner", "own", Outcome.FORBIDDEN),
        ("delegated-admin", "linkPartner", "own", Outcome.OK),
        ("delegated-admin", "tenant", "own", Outcome.OK),
        ("partner", "tenant", "own", Outcome.OK),
        ("partner", "tenant", "other", Outcome.NOT_FOUND),
        ("partner", "auditEvents", "own", Outcome.FORBIDDEN),
        ("platform-admin", "tenant", "other", Outcome.OK),
        ("usage-ingest", "tenants", "own", Outcome.FORBIDDEN),
        ("no-token", "tenants", "own", Outcome.UNAUTHENTICATED),
    ],
)
def test_the_table_says_what_the_product_rules_say(caller: str, operation: str, side: str, outcome: Outcome) -> None:
    assert expected(caller, operation, side) is outcome
