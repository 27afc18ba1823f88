"""The outbox (resolvers/change_events.py): each mutation writes exactly its change events, in its transaction.

Driven over HTTP with real tokens, like every mutation test; the events are read back from `change_events`.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from auth import policy
from auth.principal import Role
from db.change_event import ChangeEvent
from db.delegation import DelegatedAdminRelationship
from db.engine import Database
from db.enums import AssociationType
from resolvers import change_events
from resolvers.claims import RIPENED
from resolvers.delegations import EXPIRED
from schema import global_id
from tests import factories
from tests.api import Api, error_codes, principal

SET = "mutation($i: SetDigitalPartnerOfRecordInput!) { setDigitalPartnerOfRecord(input: $i) { changed } }"
REMOVE = "mutation($i: RemoveDigitalPartnerOfRecordInput!) { removeDigitalPartnerOfRecord(input: $i) { changed } }"
BULK_SET = (
    "mutation($i: BulkSetDigitalPartnerOfRecordInput!) { bulkSetDigitalPartnerOfRecord(input: $i) { correlationId } }"
)
LINK = "mutation($i: LinkPartnerInput!) { linkPartner(input: $i) { changed association { id } } }"
UNLINK = "mutation($i: UnlinkPartnerInput!) { unlinkPartner(input: $i) { changed } }"
CLAIM = "mutation($i: ClaimPartnerOfRecordInput!) { claimPartnerOfRecord(input: $i) { claims { id } } }"
DECLINE_CLAIM = "mutation($i: DeclineClaimInput!) { declineClaim(input: $i) { changed } }"
END_DELEGATION = (
    "mutation($i: EndDelegatedAdminRelationshipInput!) {"
    " endDelegatedAdminRelationship(input: $i) { relationship { status } } }"
)
SET_STATUS = (
    "mutation($i: SetSubscriptionStatusInput!) { setSubscriptionStatus(input: $i) { subscription { status } } }"
)
CREATE_INVITATION = "mutation { createDporInvitation(input: {}) { code invitation { id } } }"
ACCEPT = "mutation($i: AcceptDporInvitationInput!) { acceptDporInvitation(input: $i) { changes { changed } } }"
DECLINE_INVITATION = (
    "mutation($i: DeclineDporInvitationInput!) { declineDporInvitation(input: $i) { invitation { partnerName } } }"
)


class World:
    def __init__(self, tenant: Any, subs: list[Any], partners: list[Any]) -> None:
        self.tenant, self.subs, self.partners = tenant, subs, partners
        self.owner = principal(Role.OWNER, tenant=tenant.external_id, subject="alice@contoso.example")

    def sub(self, index: int = 0) -> str:
        return global_id.encode("Subscription", self.subs[index].id)

    def partner(self, index: int) -> str:
        return global_id.encode("Partner", self.partners[index].id)

    def partner_caller(self, index: int) -> Any:
        return principal(Role.PARTNER, partner=self.partners[index].mpn_id)


async def _world(database: Database, subscriptions: int = 1, partners: int = 3) -> World:
    tenant = factories.tenant()
    pool = [factories.partner() for _ in range(partners)]
    async with database.write() as session:
        await factories.add_flushed(session, tenant, *pool)
        subs = [factories.subscription(tenant) for _ in range(subscriptions)]
        await factories.add_flushed(session, *subs)
    return World(tenant, subs, pool)


async def _events(database: Database) -> list[ChangeEvent]:
    async with database.read() as session:
        return list(await session.scalars(select(ChangeEvent).order_by(ChangeEvent.position)))


def _set(world: World, partner: int, version: int, sub: int = 0) -> dict[str, Any]:
    return {"i": {"subscriptionId": world.sub(sub), "partnerId": world.partner(partner), "expectedVersion": version}}


def _concerned(event: ChangeEvent) -> set[uuid.UUID]:
    return {uuid.UUID(hex=key) for key in event.partner_payloads}


async def test_set_replace_remove_write_one_event_each_telling_the_partners_concerned(
    api: Api, database: Database
) -> None:
    world = await _world(database)
    first, second = world.partners[0], world.partners[1]
    await api.data(SET, _set(world, 0, 1), as_=world.owner)
    await api.data(SET, _set(world, 0, 2), as_=world.owner)  # the DPOR already: no change, no event
    await api.data(SET, _set(world, 1, 2), as_=world.owner)
    await api.data(REMOVE, {"i": {"subscriptionId": world.sub(), "expectedVersion": 3}}, as_=world.owner)
    events = await _events(database)
    assert [event.type for event in events] == [
        "association.dpor_set",
        "association.dpor_replaced",
        "association.dpor_removed",
    ]
    assert [_concerned(event) for event in events] == [{first.id}, {first.id, second.id}, {second.id}]
    for event in events:
        assert event.tenant_id == world.tenant.id and event.subscription_id == world.subs[0].id
        assert event.sequence is None  # published (sequenced) by the delivery worker, after commit
        assert event.tenant_payload is not None
        assert event.tenant_payload["actor"]["subject"] == "alice@contoso.example"
    replaced = events[1]
    old_copy = replaced.partner_payloads[first.id.hex]
    new_copy = replaced.partner_payloads[second.id.hex]
    # Each partner reads only the association row naming it, and never who acted.
    assert old_copy["before"]["digitalPartnerOfRecord"]["partnerId"] == world.partner(0)
    assert old_copy["after"]["digitalPartnerOfRecord"] is None
    assert new_copy["before"]["digitalPartnerOfRecord"] is None
    assert new_copy["after"]["digitalPartnerOfRecord"]["partnerId"] == world.partner(1)
    assert replaced.tenant_payload is not None
    assert replaced.tenant_payload["before"]["digitalPartnerOfRecord"]["partnerId"] == world.partner(0)
    assert replaced.tenant_payload["after"]["digitalPartnerOfRecord"]["partnerId"] == world.partner(1)
    for copy in (old_copy, new_copy):
        assert "alice@contoso.example" not in str(copy)
        assert copy["actor"] == {"role": "OWNER", "clientId": "test-client"}
        assert world.tenant.display_name not in str(copy)


async def test_a_bulk_change_writes_one_event_per_subscription_and_a_rolled_back_one_none(
    api: Api, database: Database
) -> None:
    world = await _world(database, subscriptions=3)
    items = [{"subscriptionId": world.sub(index), "expectedVersion": 1} for index in range(3)]
    stale = [*items[:2], {"subscriptionId": world.sub(2), "expectedVersion": 7}]
    body = await api.execute(BULK_SET, {"i": {"partnerId": world.partner(0), "subscriptions": stale}}, as_=world.owner)
    assert error_codes(body) == ["CONFLICT"]
    assert await _events(database) == []
    answer = await api.data(BULK_SET, {"i": {"partnerId": world.partner(0), "subscriptions": items}}, as_=world.owner)
    events = await _events(database)
    assert [event.type for event in events] == ["association.dpor_set"] * 3
    assert {event.subscription_id for event in events} == {sub.id for sub in world.subs}
    correlation = answer["bulkSetDigitalPartnerOfRecord"]["correlationId"]
    assert all(event.tenant_payload and event.tenant_payload["correlationId"] == correlation for event in events)


async def test_link_unlink_and_the_subscriptions_deletion(api: Api, database: Database) -> None:
    world = await _world(database)
    link = {
        "i": {
            "subscriptionId": world.sub(),
            "partnerId": world.partner(2),
            "type": "TRANSACTING_PARTNER",
            "expectedVersion": 1,
        }
    }
    linked = await api.data(LINK, link, as_=world.owner)
    association = linked["linkPartner"]["association"]["id"]
    await api.data(UNLINK, {"i": {"associationId": association, "expectedVersion": 2}}, as_=world.owner)
    await api.data(SET, _set(world, 0, 3), as_=world.owner)
    await api.data(LINK, {"i": {**link["i"], "partnerId": world.partner(1), "expectedVersion": 4}}, as_=world.owner)
    admin = principal(Role.PLATFORM_ADMIN)
    await api.data(SET_STATUS, {"i": {"subscriptionId": world.sub(), "status": "DELETED"}}, as_=admin)
    events = await _events(database)
    assert [event.type for event in events] == [
        "association.linked",
        "association.unlinked",
        "association.dpor_set",
        "association.linked",
        "association.ended",
    ]
    ended = events[-1]
    assert _concerned(ended) == {world.partners[0].id, world.partners[1].id}
    assert ended.tenant_payload is not None and len(ended.tenant_payload["after"]["associations"]) == 2
    # Each partner's copy lists its own ended row only.
    own = ended.partner_payloads[world.partners[1].id.hex]["after"]["associations"]
    assert [row["partnerId"] for row in own] == [world.partner(1)]


async def test_claims_and_delegations(api: Api, database: Database) -> None:
    world = await _world(database)
    partner = world.partners[0]
    relationship = DelegatedAdminRelationship(id=uuid.uuid4(), tenant_id=world.tenant.id, partner_id=partner.id)
    async with database.write() as session:
        session.add(relationship)
    delegated = principal(Role.DELEGATED_ADMIN, tenant=world.tenant.external_id, partner=partner.mpn_id)
    claim = {"i": {"subscriptionIds": [world.sub()], "workload": "Migration", "evidence": "SOW 7"}}
    claimed = await api.data(CLAIM, claim, as_=delegated)
    claim_id = claimed["claimPartnerOfRecord"]["claims"][0]["id"]
    await api.data(DECLINE_CLAIM, {"i": {"claimId": claim_id}}, as_=world.owner)
    link = {
        "i": {
            "subscriptionId": world.sub(),
            "partnerId": world.partner(0),
            "type": "PARTNER_ADMIN_LINK",
            "expectedVersion": 3,
        }
    }
    await api.data(LINK, link, as_=delegated)
    relationship_id = global_id.encode("DelegatedAdminRelationship", relationship.id)
    await api.data(END_DELEGATION, {"i": {"relationshipId": relationship_id}}, as_=world.owner)
    events = await _events(database)
    assert [event.type for event in events] == [
        "claim.created",
        "claim.declined",
        "association.linked",
        "delegation.ended",
    ]
    assert all(_concerned(event) == {partner.id} for event in events)
    ended = events[-1]
    copy = ended.partner_payloads[partner.id.hex]
    assert copy["after"]["status"] == "ENDED" and len(copy["after"]["endedAdminLinks"]) == 1


async def test_invitations_tell_the_partner_its_own_and_the_tenant_its_answers(api: Api, database: Database) -> None:
    world = await _world(database)
    partner = world.partner_caller(0)
    code = (await api.data(CREATE_INVITATION, as_=partner))["createDporInvitation"]["code"]
    await api.data(DECLINE_INVITATION, {"i": {"code": code}}, as_=world.owner)
    accept = {"i": {"code": code, "subscriptions": [{"subscriptionId": world.sub(), "expectedVersion": 1}]}}
    await api.data(ACCEPT, accept, as_=world.owner)
    events = await _events(database)
    assert [event.type for event in events] == [
        "invitation.created",
        "invitation.declined",
        "association.dpor_set",
        "invitation.accepted",
    ]
    created, declined, dpor_set, accepted = events
    assert created.tenant_payload is None and _concerned(created) == {world.partners[0].id}
    # The README: a decline is not told to the partner, and what an acceptance gave it reads as its DPOR set.
    assert declined.partner_payloads == {} and declined.tenant_payload is not None
    assert accepted.partner_payloads == {} and accepted.tenant_payload is not None
    assert _concerned(dpor_set) == {world.partners[0].id}


def test_every_mutation_says_whether_it_makes_events() -> None:
    """A new mutation must be listed as making events (with its rule) or as silent: the outbox cannot miss it."""
    mutations = {name for name, operation in policy.OPERATIONS.items() if operation.kind == "mutation"}
    system_actions = {RIPENED, EXPIRED}
    listed = set(change_events.ACTION_EVENTS) | change_events.SILENT_ACTIONS
    assert mutations | system_actions <= listed, sorted((mutations | system_actions) - listed)
    assert not set(change_events.ACTION_EVENTS) & change_events.SILENT_ACTIONS


def test_the_event_types_are_a_closed_list() -> None:
    assert all(name.count(".") == 1 and name == name.lower() for name in change_events.EVENT_TYPES)


async def test_claim_types_and_admin_links_are_told_to_their_own_partner_only(api: Api, database: Database) -> None:
    # An admin link of one partner and a DPOR of another on the same subscription: each event names its own.
    world = await _world(database)
    await api.data(SET, _set(world, 0, 1), as_=world.owner)
    link = {
        "i": {
            "subscriptionId": world.sub(),
            "partnerId": world.partner(1),
            "type": AssociationType.PARTNER_ADMIN_LINK.value,
            "expectedVersion": 2,
        }
    }
    await api.data(LINK, link, as_=world.owner)
    dpor, linked = await _events(database)
    assert _concerned(dpor) == {world.partners[0].id}
    assert _concerned(linked) == {world.partners[1].id}
