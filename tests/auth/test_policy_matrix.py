"""The authorization matrix, derived from auth.policy and walked cell by cell over HTTP on every backend.

Each cell is one caller (every role, and no token) x one operation (every query and mutation in the policy table)
x one target (the caller's own tenant side, or another tenant's). The expected outcome is computed from the table:
no grant -> FORBIDDEN; a grant whose reach covers the target -> OK; otherwise NOT_FOUND for single objects and
absent from the result for lists. A few rules of the product are also checked against the table directly, so the
derivation cannot drift from the specification unnoticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from starlette.websockets import WebSocket
from strawberry.types import ExecutionResult

from auth import policy
from auth.policy import OPERATIONS, RowFilter
from auth.principal import Principal, Role
from db import clock, partitions
from db.association import PartnerAssociation
from db.audit import AuditEvent
from db.change_event import ChangeEvent
from db.delegation import DelegatedAdminRelationship
from db.dpor_invitation import DporInvitation
from db.engine import Database
from db.enums import AssociationEndReason, AssociationStatus, AssociationType
from db.tenant import TenantContact
from db.usage import UsageRecord
from db.webhook import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from gateway.wiring import api_schema
from resolvers.change_feed import ChangeFeed
from resolvers.context import RequestContext
from resolvers.invitations.codes import code_hash
from resolvers.usage.rollups import rebuild_rollups
from schema import global_id
from tests import databases, factories
from tests.api import Api, api_for, combined, error_codes, principal
from tests.conftest import empty_all_tables


class Outcome(enum.Enum):
    OK = "OK"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    ABSENT = "ABSENT"  # a list answered without the target in it
    UNAUTHENTICATED = "UNAUTHENTICATED"


TENANT_A, TENANT_B = uuid.UUID(int=0xA), uuid.UUID(int=0xB)
# P1: DPOR on A's subscription (the PARTNER caller). P2: delegated admin on A, with an admin link there.
# P3: DPOR on B's subscription. P4: delegated admin on B. P5: a partner with no relationships.
# P1, P3 and P5 each have an active DPOR invitation (no redemption limit), whose code is in the world's ids.
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
    # Multi-role tokens whose every role acts on tenant A's side (so `expected` below holds for them as well):
    # each operation is allowed when one role has a grant, and reaches what the union of those grants reaches.
    "co-admin+partner": principal(Role.CO_ADMIN, Role.PARTNER, tenant=TENANT_A, partner=MPN["P1"]),
    "owner+usage-ingest": principal(Role.OWNER, Role.USAGE_INGEST, tenant=TENANT_A),
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
        # Pending claims by each side's delegated admin partner (claimPartnerOfRecord, declineClaim, pendingClaims).
        claims = {
            side: factories.association(
                subs[side],
                partners[partner],
                type=AssociationType.CLAIMING_PARTNER_OF_RECORD,
                status=AssociationStatus.PENDING,
                decline_by=datetime(2099, 1, 1, tzinfo=UTC),
                claim_workload="Azure landing zone",
                claim_evidence="statement of work 42",
            )
            for side, partner in (("A", "P2"), ("B", "P4"))
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
                *claims.values(),
                *delegations.values(),
            ]
        )
        await partitions.ensure_months(session, [date(2026, 1, 1), date(2026, 2, 1)])  # written directly
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
        created = clock.now_in_seconds()
        for name in ("P1", "P3", "P5"):
            invitation = DporInvitation(
                id=uuid.uuid4(),
                partner_id=partners[name].id,
                code_hash=code_hash(f"matrix-code-{name}"),
                created_at=created,
                expires_at=created + timedelta(days=30),
                redemptions=0,
            )
            session.add(invitation)
            ids[f"invitation{name}"] = global_id.encode("DporInvitation", invitation.id)
            ids[f"code{name}"] = f"matrix-code-{name}"
    for side in ("A", "B"):
        ids[f"tenant{side}"] = global_id.encode("Tenant", tenants[side].id)
        ids[f"sub{side}"] = global_id.encode("Subscription", subs[side].id)
        ids[f"link{side}"] = global_id.encode("PartnerAssociation", links[side].id)
        ids[f"claim{side}"] = global_id.encode("PartnerAssociation", claims[side].id)
        ids[f"delegation{side}"] = global_id.encode("DelegatedAdminRelationship", delegations[side].id)
        ids[f"subExternal{side}"] = subs[side].external_id
    for name, row in partners.items():
        ids[name] = global_id.encode("Partner", row.id)
    # Webhook endpoints (issue 15), each with one delivery: tenant A's and P1's are the "own" side, B's and P3's the
    # other; which of a side's two a caller aims at depends on its role (`_endpoint`).
    async with database.write() as session:
        event = ChangeEvent(
            id=uuid.uuid4(), sequence=1, type="association.dpor_set", audit_event_id=uuid.uuid4(), partner_payloads={}
        )
        session.add(event)
        await session.flush()
        owners = {
            "TenantA": {"tenant_id": tenants["A"].id},
            "TenantB": {"tenant_id": tenants["B"].id},
            "P1": {"partner_id": partners["P1"].id},
            "P3": {"partner_id": partners["P3"].id},
        }
        for name, owner in owners.items():
            endpoint = WebhookEndpoint(
                id=uuid.uuid4(),
                url="https://hooks.example.com/in",
                event_types=["association.dpor_set"],
                secret="whsec_" + "A" * 44,
                **owner,
            )
            session.add(endpoint)
            await session.flush()
            delivery = WebhookDelivery(
                id=uuid.uuid4(),
                endpoint_id=endpoint.id,
                event_id=event.id,
                sequence=1,
                event_type=event.type,
                status=DeliveryStatus.DEAD,
                body={},
            )
            session.add(delivery)
            ids[f"endpoint{name}"] = global_id.encode("WebhookEndpoint", endpoint.id)
            ids[f"delivery{name}"] = global_id.encode("WebhookDelivery", delivery.id)
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
    # For operations whose target depends on the caller's role too (webhook endpoints: a tenant's or a partner's).
    by_caller: Callable[[World, str, Principal], dict[str, Any]] | None = None


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
    "bulkSetDigitalPartnerOfRecord": Cell(
        "mutation($i: BulkSetDigitalPartnerOfRecordInput!) {"
        " bulkSetDigitalPartnerOfRecord(input: $i) { correlationId changes { changed } } }",
        lambda w, s: {
            "i": {
                "partnerId": w.gid("P5"),
                "subscriptions": [{"subscriptionId": w.gid(f"sub{_side(s)}"), "expectedVersion": 1}],
            }
        },
    ),
    "bulkRemoveDigitalPartnerOfRecord": Cell(
        "mutation($i: BulkRemoveDigitalPartnerOfRecordInput!) {"
        " bulkRemoveDigitalPartnerOfRecord(input: $i) { correlationId changes { changed } } }",
        lambda w, s: {"i": {"subscriptions": [{"subscriptionId": w.gid(f"sub{_side(s)}"), "expectedVersion": 1}]}},
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
    "claimPartnerOfRecord": Cell(
        "mutation($i: ClaimPartnerOfRecordInput!) { claimPartnerOfRecord(input: $i) { changed } }",
        lambda w, s: {
            "i": {"subscriptionIds": [w.gid(f"sub{_side(s)}")], "workload": "Migration", "evidence": "SOW 7"}
        },
    ),
    "declineClaim": Cell(
        "mutation($i: DeclineClaimInput!) { declineClaim(input: $i) { changed } }",
        lambda w, s: {"i": {"claimId": w.gid(f"claim{_side(s)}")}},
    ),
    "pendingClaims": Cell(
        "query($t: ID!) { pendingClaims(tenantId: $t, first: 10) { edges { node { id status } } } }",
        lambda w, s: {"t": w.gid(f"tenant{_side(s)}")},
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
    # DPOR invitations: "own" is P1's invitation (the partner caller's), "other" P3's; acceptances take P5's code.
    "createDporInvitation": Cell(
        "mutation { createDporInvitation(input: {expiresInDays: 7}) { code invitation { id } } }", lambda w, s: {}
    ),
    "revokeDporInvitation": Cell(
        "mutation($i: RevokeDporInvitationInput!) { revokeDporInvitation(input: $i) { changed } }",
        lambda w, s: {"i": {"invitationId": w.gid("invitationP1" if s == "own" else "invitationP3")}},
    ),
    "dporInvitations": Cell(
        "query($p: ID!) { partner(id: $p) { dporInvitations(first: 5) { edges { node { id status } } } } }",
        lambda w, s: {"p": w.gid("P1" if s == "own" else "P3")},
        root="partner",
    ),
    "dporInvitation": Cell(
        "query($c: String!) { dporInvitation(code: $c) { partnerName partnerMpnId } }",
        lambda w, s: {"c": w.ids["codeP1" if s == "own" else "codeP3"]},
    ),
    "acceptDporInvitation": Cell(
        "mutation($i: AcceptDporInvitationInput!) { acceptDporInvitation(input: $i) { changes { changed } } }",
        lambda w, s: {
            "i": {
                "code": w.ids["codeP5"],
                "subscriptions": [{"subscriptionId": w.gid(f"sub{_side(s)}"), "expectedVersion": 1}],
            }
        },
    ),
    "declineDporInvitation": Cell(
        "mutation($i: DeclineDporInvitationInput!) { declineDporInvitation(input: $i) { invitation { partnerName } } }",
        lambda w, s: {"i": {"code": w.ids["codeP1" if s == "own" else "codeP3"]}},
    ),
}


def _endpoint(kind: str) -> Callable[[World, str, Principal], dict[str, Any]]:
    """The side's endpoint (or its delivery) the caller aims at: its tenant's as an OWNER, else its partner's."""

    def pick(world: World, side: str, who: Principal) -> dict[str, Any]:
        owner = ("TenantA" if side == "own" else "TenantB") if Role.OWNER in who.roles else _partner_side(side)
        return (
            {"i": {f"{kind}Id": world.gid(f"{kind}{owner}")}} if kind == "delivery" else _endpoint_input(world, owner)
        )

    return pick


def _partner_side(side: str) -> str:
    return "P1" if side == "own" else "P3"


def _endpoint_input(world: World, owner: str) -> dict[str, Any]:
    return {"e": world.gid(f"endpoint{owner}")}


# Subscriptions (issue 15): the stream is started in-process (a websocket carries the same execution, see
# tests/service/test_subscriptions_ws.py); an open stream is OK, a refusal its first result's error code.
CELLS.update(
    {
        "associationChanges": Cell(
            "subscription($t: ID) { associationChanges(tenantId: $t) { sequence } }",
            lambda w, s: {"t": w.gid(f"tenant{_side(s)}")},
        ),
        "attributionChanges": Cell("subscription { attributionChanges { sequence } }", lambda w, s: {}),
    }
)
CELLS.update(
    {
        "createWebhookEndpoint": Cell(
            'mutation { createWebhookEndpoint(input: {url: "https://hooks.example.com/new",'
            ' eventTypes: ["association.dpor_set"]}) { secret endpoint { id } } }',
            lambda w, s: {},
        ),
        "webhookEndpoints": Cell(
            "{ webhookEndpoints { id } }",
            lambda w, s: {},
            lambda d, w, s: any(
                row["id"]
                in {w.gid(f"endpoint{name}") for name in (("TenantA", "P1") if s == "own" else ("TenantB", "P3"))}
                for row in d["webhookEndpoints"]
            ),
        ),
        "webhookDeliveries": Cell(
            "query($e: ID!) { webhookDeliveries(endpointId: $e, first: 5) { edges { node { id status } } } }",
            lambda w, s: {"e": w.gid("endpointTenantA" if s == "own" else "endpointTenantB")},
            by_caller=_endpoint("endpoint"),
        ),
        "updateWebhookEndpoint": Cell(
            'mutation($e: ID!) { updateWebhookEndpoint(input: {endpointId: $e, description: "x"})'
            " { endpoint { id } } }",
            lambda w, s: {"e": w.gid("endpointTenantA" if s == "own" else "endpointTenantB")},
            by_caller=_endpoint("endpoint"),
        ),
        **{
            name: Cell(
                f"mutation($e: ID!) {{ {name}(input: {{endpointId: $e}}) {{ {selection} }} }}",
                lambda w, s: {"e": w.gid("endpointTenantA" if s == "own" else "endpointTenantB")},
                by_caller=_endpoint("endpoint"),
            )
            for name, selection in (
                ("disableWebhookEndpoint", "endpoint { enabled }"),
                ("rotateWebhookSecret", "secret"),
                ("deleteWebhookEndpoint", "deletedEndpointId"),
            )
        },
        "redeliverWebhook": Cell(
            "mutation($i: RedeliverWebhookInput!) { redeliverWebhook(input: $i) { delivery { status } } }",
            lambda w, s: {"i": {"deliveryId": w.gid("deliveryTenantA" if s == "own" else "deliveryTenantB")}},
            by_caller=_endpoint("delivery"),
        ),
    }
)

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
    # An operation mounted on a row (Partner.attributedUsage) whose parent another held role reads, on a row the
    # grants do not reach: the parent is answered and the field is FORBIDDEN on it (auth.policy's field rule).
    root = CELLS[operation].root
    if root is not None and any(policy.READ[ROOT_ENTITIES[root]].get(role) is RowFilter.ALL for role in who.roles):
        return Outcome.FORBIDDEN
    return Outcome.ABSENT if CELLS[operation].present is not None else Outcome.NOT_FOUND


# The entity of the parent of each field operation's cell.
ROOT_ENTITIES = {"partner": policy.Entity.PARTNER}


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


async def _no_websocket_io(*_args: object) -> Any:
    raise AssertionError("the policy matrix's streams never use their socket")


async def subscribe(
    api: Api, document: str, variables: dict[str, Any], who: Principal | None, operation: str
) -> dict[str, Any]:
    """A subscription's answer in a query's shape: its first result when the stream refuses to start (an error
    in it), or `{operation: "open"}` when the stream is open and waiting for events."""
    feed = ChangeFeed(api.database, 0.05)
    # The socket's own context (gateway/graphql_view.get_context): subscriptions run over a websocket only, an HTTP
    # request's are refused (schema/extensions/websocket_operations.py). Nothing is sent or received on it here.
    websocket = WebSocket(
        {"type": "websocket", "path": "/graphql", "headers": [], "query_string": b""},
        receive=_no_websocket_io,
        send=_no_websocket_io,
    )
    context = RequestContext(
        request=websocket,
        response=websocket,
        database=api.database,
        request_id="matrix",
        principal=who,
        change_feed=feed,
    )
    stream = await api_schema(api.settings).subscribe(document, variable_values=variables, context_value=context)
    if isinstance(stream, ExecutionResult):
        return {"errors": [error.formatted for error in stream.errors or []]}

    async def first() -> ExecutionResult:
        # Read and closed in one task: the schema's extensions keep context variables across the stream.
        try:
            return await anext(stream)
        finally:
            await stream.aclose()

    # No timeout decides: the stream is open once it listens to the feed (it joins only after every check
    # passed), and refused once its first result (the error) is in; a slow machine only makes either later.
    task = asyncio.create_task(first())
    async with asyncio.timeout(30):
        while feed.listener_count == 0 and not task.done():
            await asyncio.wait({task}, timeout=0.01)
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return {"data": {operation: "open"}}
    first_result = task.result()
    return {"errors": [error.formatted for error in first_result.errors or []], "data": first_result.data}


def test_every_operation_in_the_table_has_a_cell() -> None:
    assert set(OPERATIONS) - NOT_YET_MOUNTED == set(CELLS)


class CellWorlds:
    """The matrix's world on a database of the module's own, built again only when a cell may have changed it.

    Building the world is most of a cell's cost (900 cells per backend). A read leaves it as it was, and so does
    a refused mutation (every mutation is atomic), so the next cell reuses it; after a mutation that succeeded, or
    any cell that failed, the next cell starts from empty tables, a new world and a new Database (whose caches,
    such as the callers' known ids, knew the old world's rows).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.database: Database | None = None
        self._world: World | None = None

    async def clean(self) -> tuple[Database, World]:
        if self.database is None or self._world is None:
            await self.close()
            self.database = Database.from_url(self.url, pool_size=5)
            await empty_all_tables(self.database)
            self._world = await build_world(self.database)
        return self.database, self._world

    def spoiled(self) -> None:
        self._world = None

    def unchanged(self, world: World) -> None:
        self._world = world

    async def close(self) -> None:
        if self.database is not None:
            await self.database.dispose()
            self.database = None


@pytest.fixture(scope="module")
def matrix_database_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database only the policy cells use, so nothing else empties their world between them."""
    backend = make_url(database_url).get_backend_name()
    with databases.migrated_database(backend, tmp_path_factory.mktemp("matrix")) as url:
        yield url


@pytest.fixture(scope="module")
async def cell_worlds(matrix_database_url: str) -> AsyncIterator[CellWorlds]:
    worlds = CellWorlds(matrix_database_url)
    try:
        yield worlds
    finally:
        await worlds.close()


@pytest.mark.parametrize(("caller", "operation", "side"), MATRIX)
async def test_policy_cell(cell_worlds: CellWorlds, caller: str, operation: str, side: str) -> None:
    database, world = await cell_worlds.clean()
    cell = CELLS[operation]
    who = CALLERS[caller]
    variables = cell.by_caller(world, side, who) if cell.by_caller and who else cell.variables(world, side)
    outcome = expected(caller, operation, side)
    writes = OPERATIONS[operation].kind == "mutation"
    if writes:
        cell_worlds.spoiled()  # until the cell is shown refused
    async with api_for(database) as api:
        if OPERATIONS[operation].kind == "subscription":
            body = await subscribe(api, cell.document, variables, who, operation)
        else:
            body = await api.execute(cell.document, variables, as_=who)
    try:
        assert observed(body, cell, world, side, operation) is outcome, body
    except BaseException:
        cell_worlds.spoiled()
        raise
    if writes and outcome is not Outcome.OK:
        cell_worlds.unchanged(world)  # refused: nothing was written


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
        # Bulk DPOR changes follow the same rule (issue 14).
        *[
            (caller, operation, "own", outcome)
            for operation in ("bulkSetDigitalPartnerOfRecord", "bulkRemoveDigitalPartnerOfRecord")
            for caller, outcome in (
                ("owner", Outcome.OK),
                ("owner+usage-ingest", Outcome.OK),
                ("service-admin", Outcome.FORBIDDEN),
                ("co-admin", Outcome.FORBIDDEN),
                ("delegated-admin", Outcome.FORBIDDEN),
                ("partner", Outcome.FORBIDDEN),
                ("co-admin+partner", Outcome.FORBIDDEN),
                ("platform-admin", Outcome.FORBIDDEN),
                ("usage-ingest", Outcome.FORBIDDEN),
            )
        ],
        ("owner", "bulkSetDigitalPartnerOfRecord", "other", Outcome.NOT_FOUND),
        ("owner", "bulkRemoveDigitalPartnerOfRecord", "other", Outcome.NOT_FOUND),
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
        # Several roles: the union of their grants, no more.
        ("co-admin+partner", "linkPartner", "own", Outcome.FORBIDDEN),
        ("co-admin+partner", "attributedSubscriptions", "own", Outcome.OK),
        ("co-admin+partner", "attributedUsage", "other", Outcome.FORBIDDEN),
        ("co-admin+partner", "tenant", "other", Outcome.NOT_FOUND),
        ("owner+usage-ingest", "ingestUsage", "own", Outcome.OK),
        # Claims (issue 14): the delegated admin claims on its customer's subscriptions, only the owner declines.
        ("delegated-admin", "claimPartnerOfRecord", "own", Outcome.OK),
        ("delegated-admin", "claimPartnerOfRecord", "other", Outcome.NOT_FOUND),
        *[
            (c, "claimPartnerOfRecord", "own", Outcome.FORBIDDEN)
            for c in ("owner", "service-admin", "co-admin", "partner", "platform-admin", "co-admin+partner")
        ],
        ("owner", "declineClaim", "own", Outcome.OK),
        ("owner", "declineClaim", "other", Outcome.NOT_FOUND),
        *[
            (c, "declineClaim", "own", Outcome.FORBIDDEN)
            for c in ("service-admin", "co-admin", "delegated-admin", "partner", "platform-admin")
        ],
        ("co-admin", "pendingClaims", "own", Outcome.OK),
        ("delegated-admin", "pendingClaims", "other", Outcome.NOT_FOUND),
        ("partner", "pendingClaims", "own", Outcome.FORBIDDEN),
        ("platform-admin", "pendingClaims", "other", Outcome.OK),
        ("owner+usage-ingest", "setDigitalPartnerOfRecord", "other", Outcome.NOT_FOUND),
        # DPOR invitations: the partner creates, lists and revokes its own; only the owner previews, accepts and
        # declines, and accepts for its own tenant only (a code names no tenant: any owner may read one).
        ("partner", "createDporInvitation", "own", Outcome.OK),
        ("partner", "revokeDporInvitation", "other", Outcome.NOT_FOUND),
        ("partner", "dporInvitations", "other", Outcome.NOT_FOUND),
        ("platform-admin", "dporInvitations", "other", Outcome.OK),
        ("owner", "createDporInvitation", "own", Outcome.FORBIDDEN),
        ("owner", "dporInvitation", "other", Outcome.OK),
        ("owner", "acceptDporInvitation", "own", Outcome.OK),
        ("owner", "acceptDporInvitation", "other", Outcome.NOT_FOUND),
        ("owner", "declineDporInvitation", "other", Outcome.OK),
        *[
            (c, operation, "own", Outcome.FORBIDDEN)
            for c in ("service-admin", "co-admin", "delegated-admin", "partner", "platform-admin", "co-admin+partner")
            for operation in ("dporInvitation", "acceptDporInvitation", "declineDporInvitation")
        ],
        ("partner", "revokeDporInvitation", "own", Outcome.OK),
        ("platform-admin", "revokeDporInvitation", "own", Outcome.FORBIDDEN),
        ("platform-admin", "createDporInvitation", "own", Outcome.FORBIDDEN),
        # Partner admin links bound to access (issue 14): platform admins give delegated admin access; they and the
        # tenant's owner end it (and with it the partner's admin links); nobody else.
        ("platform-admin", "createDelegatedAdminRelationship", "other", Outcome.OK),
        ("platform-admin", "endDelegatedAdminRelationship", "other", Outcome.OK),
        ("owner", "endDelegatedAdminRelationship", "own", Outcome.OK),
        ("owner", "endDelegatedAdminRelationship", "other", Outcome.NOT_FOUND),
        *[
            (c, operation, "own", Outcome.FORBIDDEN)
            for c in ("service-admin", "co-admin", "delegated-admin", "partner", "co-admin+partner")
            for operation in ("createDelegatedAdminRelationship", "endDelegatedAdminRelationship")
        ],
        ("owner", "createDelegatedAdminRelationship", "own", Outcome.FORBIDDEN),
    ],
)
def test_the_table_says_what_the_product_rules_say(caller: str, operation: str, side: str, outcome: Outcome) -> None:
    assert expected(caller, operation, side) is outcome


# --- Field rules, decided for the row in hand, for single- and multi-role tokens (issue 11) ---------------------
#
# A field in policy.FIELDS is readable on a row iff some role the caller holds would read it on that row alone:
# the reference below asks, role by role, whether the role reaches the row (from the facts of the world, e.g. which
# partner is associated with which subscription, not from the implementation's deduction) and whether it reads the
# field's entity there. Every path that can hand a caller a Tenant or a Subscription is walked.

# Facts of the field world: build_world plus P1 holding a delegated admin relationship on tenant B, so a token
# can be B's delegated admin and, as the same partner, attributed to A.
ATTRIBUTED_TO = {"P1": {"A"}, "P2": {"A"}, "P3": {"B"}, "P4": {"B"}, "P5": set(), "P1+": {"A"}}

FIELD_CALLERS: dict[str, Principal] = {
    **{
        name: who
        for name, who in CALLERS.items()
        if who is not None and name not in ("usage-ingest", "owner+usage-ingest")
    },
    # The issue's token: B's owner, and partner P1 whose DPOR is on A's subscription.
    "owner-B+partner-P1": combined(principal(Role.OWNER, tenant=TENANT_B), principal(Role.PARTNER, partner=MPN["P1"])),
    "co-admin-B+partner-P1": combined(
        principal(Role.CO_ADMIN, tenant=TENANT_B), principal(Role.PARTNER, partner=MPN["P1"])
    ),
    "service-admin-A+partner-P3": combined(
        principal(Role.SERVICE_ADMIN, tenant=TENANT_A), principal(Role.PARTNER, partner=MPN["P3"])
    ),
    # Delegated admin on B (P1's relationship) and, as P1, attributed to A.
    "delegated-B+partner-P1": combined(
        principal(Role.DELEGATED_ADMIN, tenant=TENANT_B, partner=MPN["P1"]), principal(Role.PARTNER)
    ),
    "platform-admin+partner-P1": combined(principal(Role.PLATFORM_ADMIN), principal(Role.PARTNER, partner=MPN["P1"])),
    "partner-with-tid-B": principal(Role.PARTNER, tenant=TENANT_B, partner=MPN["P1"]),
}


def _partner_name(who: Principal) -> str | None:
    return next((name for name, mpn in MPN.items() if mpn == who.partner_mpn_id), None)


def _covers(rule: RowFilter, who: Principal, side: str) -> bool:
    """Whether one row filter, held by `who` alone, covers the rows of tenant `side` (A or B) in the field world."""
    if rule is RowFilter.ALL:
        return True
    if rule in (RowFilter.OWN_TENANT, RowFilter.DELEGATED_TENANT):
        return who.tenant_external_id == (TENANT_A if side == "A" else TENANT_B)
    partner = _partner_name(who)
    # Attributed rows, the partner's association rows on them, usage in its windows there: all on the same side.
    return partner is not None and side in ATTRIBUTED_TO[partner]


def field_readable(who: Principal, type_name: str, field: str, side: str) -> bool:
    """The reference: some held role reaches this row and reads the field's entity on it."""
    parent, readers = policy.READ[policy.ROWS[type_name]], policy.READ[policy.FIELDS[(type_name, field)]]
    return any(
        role in parent and role in readers and _covers(parent[role], who, side) and _covers(readers[role], who, side)
        for role in who.roles
    )


_USAGE = 'usage(from: "2026-01-01", to: "2026-03-31", groupBy: [MONTH]) { amount }'
FIELD_SELECTIONS = {
    "Tenant": {
        "primaryDomain": "primaryDomain",
        "contacts": "contacts(first: 5) { edges { node { name } } }",
        "delegatedAdminRelationships": "delegatedAdminRelationships { status }",
        "usage": _USAGE,
    },
    "Subscription": {"usage": _USAGE, "associationHistory": "associationHistory(first: 5) { edges { node { type } } }"},
    "PartnerAssociation": {"createdBy": "createdBy", "endedBy": "endedBy"},
}
# Fields that may be null on a row the caller reads them on (an active association has no endedBy).
NULLABLE_FIELDS = {("PartnerAssociation", "endedBy")}

_TENANT_PATHS = {
    "tenant": "a: tenant(id: $tenantA) { ...F } b: tenant(id: $tenantB) { ...F }",
    "tenants": "tenants(first: 10) { edges { node { ...F } } }",
    "node": "a: node(id: $tenantA) { ...F } b: node(id: $tenantB) { ...F }",
    "nodes": "nodes(ids: [$tenantA, $tenantB]) { ...F }",
    "subscription.tenant": "a: subscription(id: $subA) { tenant { ...F } }"
    " b: subscription(id: $subB) { tenant { ...F } }",
    "subscriptions.tenant": "subscriptions(first: 10) { edges { node { tenant { ...F } } } }",
    "attributedSubscriptions.tenant": "attributedSubscriptions(first: 10) { edges { node { tenant { ...F } } } }",
    "usageAggregates.tenant": 'usageAggregates(filter: {from: "2026-01-01", to: "2026-03-31"}, groupBy: [TENANT])'
    " { tenant { ...F } }",
    "partnerAssociations.subscription.tenant": "a: subscription(id: $subA) { partnerAssociations"
    " { subscription { tenant { ...F } } } } b: subscription(id: $subB) { partnerAssociations"
    " { subscription { tenant { ...F } } } }",
}
_SUBSCRIPTION_PATHS = {
    "subscription": "a: subscription(id: $subA) { ...F } b: subscription(id: $subB) { ...F }",
    "subscriptions": "subscriptions(first: 10) { edges { node { ...F } } }",
    "node": "a: node(id: $subA) { ...F } b: node(id: $subB) { ...F }",
    "nodes": "nodes(ids: [$subA, $subB]) { ...F }",
    "tenant.subscriptions": "a: tenant(id: $tenantA) { subscriptions(first: 5) { edges { node { ...F } } } }"
    " b: tenant(id: $tenantB) { subscriptions(first: 5) { edges { node { ...F } } } }",
    "attributedSubscriptions": "attributedSubscriptions(first: 10) { edges { node { ...F } } }",
    "usageAggregates.subscription": 'usageAggregates(filter: {from: "2026-01-01", to: "2026-03-31"},'
    " groupBy: [SUBSCRIPTION]) { subscription { ...F } }",
}
# Every path to an association row. Its side is its subscription's, selected beside the guarded fields.
_ASSOCIATION_PATHS = {
    "subscription.partnerAssociations": "a: subscription(id: $subA) { partnerAssociations(includeEnded: true)"
    " { ...F } } b: subscription(id: $subB) { partnerAssociations(includeEnded: true) { ...F } }",
    "subscription.associationHistory": "a: subscription(id: $subA) { associationHistory(first: 10)"
    " { edges { node { ...F } } } } b: subscription(id: $subB) { associationHistory(first: 10)"
    " { edges { node { ...F } } } }",
    "subscriptions.partnerAssociations": "subscriptions(first: 10) { edges { node { partnerAssociations"
    "(includeEnded: true) { ...F } } } }",
    "attributedSubscriptions.associations": "attributedSubscriptions(first: 10) { edges { associations { ...F } } }",
    "node": "a: node(id: $linkA) { ...F } b: node(id: $linkB) { ...F } c: node(id: $endedA) { ...F }",
    "nodes": "nodes(ids: [$linkA, $linkB, $endedA, $endedB]) { ...F }",
}
FIELD_PATHS = (
    [("Tenant", path, body) for path, body in _TENANT_PATHS.items()]
    + [("Subscription", path, body) for path, body in _SUBSCRIPTION_PATHS.items()]
    + [("PartnerAssociation", path, body) for path, body in _ASSOCIATION_PATHS.items()]
)
FIELD_VARIABLES = ("tenantA", "tenantB", "subA", "subB", "linkA", "linkB", "endedA", "endedB")


def _field_document(type_name: str, body: str) -> str:
    fields = " ".join(FIELD_SELECTIONS[type_name].values())
    if type_name == "PartnerAssociation":
        fields += " subscription { id }"  # the row's side
    used = [name for name in FIELD_VARIABLES if f"${name}" in body]
    variables = ", ".join(f"${name}: ID!" for name in used)
    header = f"query({variables})" if variables else "query"
    return f"{header} {{ {body} }} fragment F on {type_name} {{ __typename id {fields} }}"


def _rows(value: Any, path: list[str | int], type_name: str) -> list[tuple[list[str | int], dict[str, Any]]]:
    """Every object of `type_name` in the answer, with its response path."""
    found: list[tuple[list[str | int], dict[str, Any]]] = []
    if isinstance(value, dict):
        if value.get("__typename") == type_name:
            found.append((path, value))
        for key, child in value.items():
            found += _rows(child, [*path, key], type_name)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _rows(child, [*path, index], type_name)
    return found


async def build_field_world(database: Database) -> World:
    world = await build_world(database)
    async with database.write() as session:
        # P1 is also B's delegated admin (for the delegated-B+partner-P1 token).
        tenant_b = global_id.decode(world.gid("tenantB"), "Tenant", field="id")
        partner_1 = global_id.decode(world.gid("P1"), "Partner", field="id")
        session.add(DelegatedAdminRelationship(id=uuid.uuid4(), tenant_id=tenant_b, partner_id=partner_1))
        # An ended association on each side (P1's admin link on A, P3's on B), so endedBy has a value to guard.
        ended = datetime(2026, 1, 15, tzinfo=UTC)
        for side, partner_name in (("A", "P1"), ("B", "P3")):
            association = PartnerAssociation(
                id=uuid.uuid4(),
                subscription_id=global_id.decode(world.gid(f"sub{side}"), "Subscription", field="id"),
                partner_id=global_id.decode(world.gid(partner_name), "Partner", field="id"),
                type=AssociationType.PARTNER_ADMIN_LINK,
                valid_from=datetime(2026, 1, 1, tzinfo=UTC),
                valid_to=ended,
                end_reason=AssociationEndReason.UNLINKED,
                created_by="someone@example.com",
                ended_by="someone-else@example.com",
            )
            session.add(association)
            world.ids[f"ended{side}"] = global_id.encode("PartnerAssociation", association.id)
    return world


@pytest.mark.parametrize("caller", list(FIELD_CALLERS))
async def test_field_rules_are_decided_for_the_row_in_hand(api: Api, database: Database, caller: str) -> None:
    """Every path to a Tenant or Subscription row, for one caller over one world (building the world per path cost
    most of the suite's time: 192 worlds per backend for 12 callers)."""
    world = await build_field_world(database)
    who = FIELD_CALLERS[caller]
    variables = {name: world.gid(name) for name in FIELD_VARIABLES}
    sides = {world.gid(f"{prefix}{side}"): side for prefix in ("tenant", "sub") for side in "AB"}
    seen: set[tuple[str, str, bool]] = set()
    for type_name, path, body in FIELD_PATHS:
        document = _field_document(type_name, body)
        answer = await api.execute(document, {k: v for k, v in variables.items() if f"${k}" in body}, as_=who)
        forbidden = {
            tuple(error["path"]) for error in answer.get("errors", []) if error["extensions"]["code"] == "FORBIDDEN"
        }
        for row_path, row in _rows(answer.get("data"), [], type_name):
            side = sides[row["subscription"]["id"] if type_name == "PartnerAssociation" else row["id"]]
            for field in FIELD_SELECTIONS[type_name]:
                readable = field_readable(who, type_name, field, side)
                denied = tuple([*row_path, field]) in forbidden
                assert denied is not readable, (caller, path, side, field, answer)
                if not readable or (type_name, field) not in NULLABLE_FIELDS:
                    assert (row[field] is not None) is readable, (caller, path, side, field, answer)
                seen.add((type_name, field, readable))
    # The walk reached every guarded field (a path that returned no rows would otherwise test nothing).
    assert {(type_name, field) for type_name, field, _ in seen} == set(policy.FIELDS), sorted(seen)


def test_every_guarded_field_is_walked() -> None:
    assert {(type_name, field) for type_name, fields in FIELD_SELECTIONS.items() for field in fields} == set(
        policy.FIELDS
    )


def test_the_issue_token_is_denied_tenant_a_primary_domain() -> None:
    # The reference agrees with the issue: A is reached only through P1, and a partner does not read primaryDomain.
    who = FIELD_CALLERS["owner-B+partner-P1"]
    assert not field_readable(who, "Tenant", "primaryDomain", "A")
    assert field_readable(who, "Tenant", "primaryDomain", "B")
    assert field_readable(who, "Tenant", "usage", "A")  # as P1: its attributed windows


def test_a_partner_never_reads_a_field_its_tenants_admins_cannot() -> None:
    # policy.FieldRule lets the tenant roles decide on the caller's own tenant without looking up the partner's
    # reach there; that is exact only while no field is readable by PARTNER and not by every tenant admin.
    for type_name, field in policy.FIELDS:
        readers = policy.READ[policy.FIELDS[(type_name, field)]]
        if Role.PARTNER in readers:
            for role in (Role.OWNER, Role.SERVICE_ADMIN, Role.CO_ADMIN, Role.DELEGATED_ADMIN):
                assert role in readers, (type_name, field, role)


_ROW_USAGE = (
    'usage(from: "2026-01-01", to: "2026-03-31", groupBy: [MONTH]) { amount associationType attribution { amount } }'
)
ROW_USAGE = f"""query($tenant: ID!, $sub: ID!) {{
  tenant(id: $tenant) {{ {_ROW_USAGE} }} subscription(id: $sub) {{ {_ROW_USAGE} }} }}"""
ALONE = {
    "owner-B": principal(Role.OWNER, tenant=TENANT_B),
    "partner-P1": principal(Role.PARTNER, partner=MPN["P1"]),
    "delegated-B": principal(Role.DELEGATED_ADMIN, tenant=TENANT_B, partner=MPN["P1"]),
}


@pytest.mark.parametrize(
    ("caller", "reader"),
    [
        ("owner-B+partner-P1", {"A": "partner-P1", "B": "owner-B"}),
        ("delegated-B+partner-P1", {"A": "partner-P1", "B": "delegated-B"}),
    ],
)
async def test_a_rows_usage_is_read_under_the_role_that_reaches_the_row(
    api: Api, database: Database, caller: str, reader: dict[str, str]
) -> None:
    # Before, a multi-role token read every row's usage under its tenant scope: tenant A's usage (reached as P1)
    # came back empty instead of P1's attributed share.
    world = await build_field_world(database)
    for side, alone in reader.items():
        variables = {"tenant": world.gid(f"tenant{side}"), "sub": world.gid(f"sub{side}")}
        combined_answer = await api.execute(ROW_USAGE, variables, as_=FIELD_CALLERS[caller])
        single_answer = await api.execute(ROW_USAGE, variables, as_=ALONE[alone])
        assert "errors" not in combined_answer, combined_answer
        assert combined_answer["data"] == single_answer["data"], (side, combined_answer, single_answer)
        assert combined_answer["data"]["tenant"]["usage"], combined_answer  # there is usage on both sides


ATTRIBUTED_USAGE = """query($p: ID!) { partner(id: $p) {
  attributedUsage(from: "2026-01-01", to: "2026-03-31", groupBy: [MONTH]) { amount associationType }
  attributedSubscriptions(first: 5) { totalCount } } }"""


async def test_partner_operations_are_decided_for_the_partner_in_hand(api: Api, database: Database) -> None:
    # B's owner who is also P1 reads P3 in the partner directory (as OWNER); P3's attributed usage and
    # subscriptions are P3's own business (OWN_PARTNER): FORBIDDEN, not answered under B's tenant scope.
    world = await build_field_world(database)
    who = FIELD_CALLERS["owner-B+partner-P1"]
    other = await api.execute(ATTRIBUTED_USAGE, {"p": world.gid("P3")}, as_=who)
    assert other["data"]["partner"] == {"attributedUsage": None, "attributedSubscriptions": None}, other
    assert sorted(error_codes(other)) == ["FORBIDDEN", "FORBIDDEN"]
    own = await api.execute(ATTRIBUTED_USAGE, {"p": world.gid("P1")}, as_=who)
    alone = await api.execute(ATTRIBUTED_USAGE, {"p": world.gid("P1")}, as_=ALONE["partner-P1"])
    assert own["data"] == alone["data"], (own, alone)
    assert own["data"]["partner"]["attributedUsage"], own


# --- Row filters: what each caller lists, derived from policy.READ ---------------------------------------------------
#
# For every entity with a root list, the rows a caller lists are exactly those some held role's READ filter covers
# (the reference `_covers` again, from the facts of the world); a caller with no role in the entity's READ row lists
# nothing (FORBIDDEN: the list operations grant the READ roles). Rows are named by side (A, B) or by partner.

ROOT_LISTS: dict[policy.Entity, str] = {
    policy.Entity.TENANT: "tenants(first: 10) { edges { node { id } } }",
    policy.Entity.SUBSCRIPTION: "subscriptions(first: 10) { edges { node { id } } }",
    policy.Entity.PARTNER: "partners(first: 10) { edges { node { mpnId } } }",
    policy.Entity.AUDIT_EVENT: "auditEvents(first: 10) { edges { node { tenantId } } }",
    policy.Entity.USAGE: 'usageAggregates(filter: {from: "2026-01-01", to: "2026-03-31"}, groupBy: [SUBSCRIPTION])'
    " { subscription { id } }",
}


def _listed(entity: policy.Entity, data: dict[str, Any] | None, sides: dict[str, str]) -> set[str]:
    if data is None:
        return set()
    if entity is policy.Entity.USAGE:
        return {sides[row["subscription"]["id"]] for row in data["usageAggregates"]}
    (connection,) = data.values()
    nodes = [edge["node"] for edge in connection["edges"]]
    if entity is policy.Entity.PARTNER:
        return {name for name, mpn in MPN.items() for node in nodes if node["mpnId"] == mpn}
    return {sides[node["tenantId"] if entity is policy.Entity.AUDIT_EVENT else node["id"]] for node in nodes}


def read_reference(entity: policy.Entity, who: Principal) -> set[str]:
    """What `who` lists of `entity`, from policy.READ role by role."""
    expected: set[str] = set()
    roles = who.roles & set(policy.READ[entity])
    if entity is policy.Entity.USAGE and who.tenant_external_id is not None:
        # Aggregates over mixed scopes would add whole amounts to attributed ones, so the root usage list reads
        # under the caller's tenant roles when it has them (auth.policy `usage_filter`); a row in hand of
        # another tenant (Tenant.usage, Subscription.usage) is read under the partner's windows, as field rules are.
        roles = {role for role in roles if policy.READ[entity][role] in policy.TENANT_SCOPED} or roles
    for role in roles:
        rule = policy.READ[entity][role]
        if entity is policy.Entity.PARTNER:
            own = _partner_name(who)
            expected |= set(MPN) if rule is RowFilter.ALL else {own} if own is not None else set()
        else:
            expected |= {side for side in "AB" if _covers(rule, who, side)}
    return expected


@pytest.mark.parametrize("caller", list(FIELD_CALLERS))
async def test_each_caller_lists_what_the_read_table_says(api: Api, database: Database, caller: str) -> None:
    world = await build_field_world(database)
    who = FIELD_CALLERS[caller]
    sides = {world.gid(f"{prefix}{side}"): side for prefix in ("tenant", "sub") for side in "AB"}
    for entity, selection in ROOT_LISTS.items():
        answer = await api.execute(f"{{ {selection} }}", as_=who)
        expected = read_reference(entity, who)
        assert _listed(entity, answer.get("data"), sides) == expected, (caller, entity, answer)
        if not expected and not who.roles & set(policy.READ[entity]):
            assert error_codes(answer) == ["FORBIDDEN"], (caller, entity, answer)


def test_the_read_reference_is_not_vacuous() -> None:
    # Every entity listed above is seen differently by at least two callers.
    for entity in ROOT_LISTS:
        seen = {frozenset(read_reference(entity, who)) for who in FIELD_CALLERS.values()}
        assert len(seen) >= 2, (entity, seen)
