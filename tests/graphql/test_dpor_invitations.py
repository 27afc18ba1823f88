"""DPOR invitations over HTTP with real tokens, on every backend: a partner invites, a tenant's owner previews,
accepts for two subscriptions (history, audit and the partner's attributed view show it) or declines; expired,
revoked, used-up and unknown codes answer one NOT_FOUND, guessing is rate limited, and only the owner redeems.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from auth.principal import Principal, Role
from db import clock as db_clock
from db.association import PartnerAssociation
from db.audit import AuditEvent
from db.delegation import DelegatedAdminRelationship
from db.dpor_invitation import DporInvitation
from db.engine import Database
from db.enums import AssociationType
from db.idempotency import IdempotencyRecord
from db.subscription import Subscription
from resolvers.invitations import state
from resolvers.invitations.codes import CODE_PREFIX, code_hash
from resolvers.invitations.state import DporInvitationStatus
from schema import global_id
from tests import factories
from tests.api import Api, api_for, error_codes, principal

CREATE = """mutation($input: CreateDporInvitationInput!) { createDporInvitation(input: $input) {
  code invitation { id status message expiresAt createdAt maxRedemptions redemptions revokedAt } } }"""
LIST = """{ viewer { partner { dporInvitations(first: 20) { totalCount
  edges { node { id status redemptions maxRedemptions revokedAt } } } } } }"""
PREVIEW = "query($code: String!) { dporInvitation(code: $code) { partnerName partnerMpnId message expiresAt } }"
ACCEPT = """mutation($input: AcceptDporInvitationInput!) { acceptDporInvitation(input: $input) {
  partner { mpnId } correlationId
  changes { changed message subscription { id version }
            association { partner { mpnId } type createdBy createdByRole validFrom }
            previousAssociation { partner { mpnId } endReason validTo } } } }"""
DECLINE = """mutation($input: DeclineDporInvitationInput!) {
  declineDporInvitation(input: $input) { invitation { partnerName partnerMpnId } } }"""
REVOKE = """mutation($input: RevokeDporInvitationInput!) {
  revokeDporInvitation(input: $input) { changed invitation { id status revokedAt } } }"""
HISTORY = """query($id: ID!) { subscription(id: $id) { version digitalPartnerOfRecord { partner { mpnId } }
  associationHistory(first: 10) { edges { node { partner { mpnId } endReason createdBy createdByRole } } } } }"""
AUDIT = """query($t: ID!) { auditEvents(first: 50, filter: {tenantId: $t}) { edges { node {
  action actorSubject actorRole targetType targetId subscriptionId requestId correlationId after } } } }"""
ATTRIBUTED = "{ attributedSubscriptions(first: 10) { totalCount edges { node { id } associations { type } } } }"


@dataclass
class Clock:
    """The server's clock (db.clock), running, moved by the test: real time plus `ahead` (a stopped clock would
    make the story's successive changes happen in one second)."""

    ahead: timedelta = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.ahead


@pytest.fixture
def clock() -> Iterator[Clock]:
    moved = Clock()
    with db_clock.moved_to(moved.now):
        yield moved


@pytest.fixture
async def roomy_api(database: Database) -> AsyncIterator[Api]:
    """The gateway with a guess budget the story's dozen dead codes do not spend (the budget has its own test)."""
    async with api_for(database, invitation_code_failures=100) as client:
        yield client


@dataclass
class World:
    tenant: Any
    other_tenant: Any
    partner: Any  # the inviting partner
    previous: Any  # the DPOR of subs[0] before the acceptance
    delegated: Any  # holds an active delegated admin relationship on `tenant`
    subs: list[Any]  # three of `tenant`'s
    foreign: Any  # a subscription of `other_tenant`
    owner: Principal
    partner_caller: Principal

    def sub_id(self, index: int) -> str:
        return global_id.encode("Subscription", self.subs[index].id)


async def build_world(database: Database) -> World:
    async with database.write() as session:
        tenant, other_tenant = factories.tenant(), factories.tenant()
        partner, previous, delegated = factories.partner(), factories.partner(), factories.partner()
        await factories.add_flushed(session, tenant, other_tenant, partner, previous, delegated)
        subs = [factories.subscription(tenant) for _ in range(3)]
        foreign = factories.subscription(other_tenant)
        await factories.add_flushed(session, *subs, foreign)
        session.add(factories.association(subs[0], previous))
        session.add(DelegatedAdminRelationship(id=uuid.uuid4(), tenant_id=tenant.id, partner_id=delegated.id))
    return World(
        tenant=tenant,
        other_tenant=other_tenant,
        partner=partner,
        previous=previous,
        delegated=delegated,
        subs=subs,
        foreign=foreign,
        owner=principal(Role.OWNER, tenant=tenant.external_id, subject="owner-olga"),
        partner_caller=principal(Role.PARTNER, partner=partner.mpn_id, subject="partner-pat"),
    )


async def create(api: Api, world: World, **values: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await api.data(CREATE, {"input": values}, as_=world.partner_caller))[
        "createDporInvitation"
    ]
    return result


def accept_input(code: str, *items: tuple[str, int], key: str | None = None) -> dict[str, Any]:
    subscriptions = [{"subscriptionId": sub, "expectedVersion": version} for sub, version in items]
    return {"input": {"code": code, "subscriptions": subscriptions, "idempotencyKey": key}}


async def listed(api: Api, world: World) -> dict[str, dict[str, Any]]:
    data = await api.data(LIST, as_=world.partner_caller)
    return {edge["node"]["id"]: edge["node"] for edge in data["viewer"]["partner"]["dporInvitations"]["edges"]}


def refusal(body: dict[str, Any]) -> dict[str, Any]:
    """An error as the caller reads it, without where in the document it happened."""
    (error,) = body["errors"]
    return {"message": error["message"], "extensions": error["extensions"]}


async def counts(database: Database) -> tuple[int, int, int]:
    """(association rows, audit events, sum of subscription versions): what any write would move."""
    async with database.read() as session:
        rows = await session.scalar(select(func.count()).select_from(PartnerAssociation))
        events = await session.scalar(select(func.count()).select_from(AuditEvent))
        versions = await session.scalar(select(func.sum(Subscription.version)))
    return int(rows or 0), int(events or 0), int(versions or 0)


async def test_the_invitation_story(roomy_api: Api, database: Database, clock: Clock) -> None:
    api = roomy_api
    world = await build_world(database)
    partner, owner = world.partner_caller, world.owner
    tenant_id = global_id.encode("Tenant", world.tenant.id)

    # The partner creates an invitation: its code once, 256 bits behind the prefix, and the invitation.
    created = await create(
        api, world, message="Let us look after your Azure", expiresInDays=30, maxRedemptions=2, idempotencyKey="inv-1"
    )
    code, invitation = created["code"], created["invitation"]
    assert code.startswith(CODE_PREFIX) and len(code) - len(CODE_PREFIX) >= 43
    assert invitation["status"] == "ACTIVE"
    assert (invitation["redemptions"], invitation["maxRedemptions"], invitation["revokedAt"]) == (0, 2, None)
    created_at = datetime.fromisoformat(invitation["createdAt"])
    assert datetime.fromisoformat(invitation["expiresAt"]) - created_at == timedelta(days=30)

    # Only the code's hash is stored, anywhere.
    async with database.read() as session:
        (row,) = (await session.scalars(select(DporInvitation))).all()
        records = (await session.scalars(select(IdempotencyRecord))).all()
        events = (await session.scalars(select(AuditEvent))).all()
    assert row.code_hash == code_hash(code)
    assert code not in repr([(r.result, r.input_hash) for r in records] + [(e.before, e.after) for e in events])

    # A replay of the key answers the same invitation, without the code, and creates nothing.
    again = await create(
        api, world, message="Let us look after your Azure", expiresInDays=30, maxRedemptions=2, idempotencyKey="inv-1"
    )
    assert again["code"] is None and again["invitation"]["id"] == invitation["id"]

    # The partner lists it; creating it told no tenant anything (its audit event names none).
    assert {key: value["status"] for key, value in (await listed(api, world)).items()} == {invitation["id"]: "ACTIVE"}
    owners_audit = (await api.data(AUDIT, {"t": tenant_id}, as_=owner))["auditEvents"]["edges"]
    assert owners_audit == []

    # The owner previews it.
    preview = (await api.data(PREVIEW, {"code": code}, as_=owner))["dporInvitation"]
    assert preview == {
        "partnerName": world.partner.name,
        "partnerMpnId": world.partner.mpn_id,
        "message": "Let us look after your Azure",
        "expiresAt": invitation["expiresAt"],
    }

    # ... and accepts it for two subscriptions: one whose DPOR it replaces, one without any.
    body = accept_input(code, (world.sub_id(0), 1), (world.sub_id(1), 1), key="accept-1")
    accepted = (await api.data(ACCEPT, body, as_=owner))["acceptDporInvitation"]
    assert accepted["partner"] == {"mpnId": world.partner.mpn_id}
    replaced, fresh = accepted["changes"]
    assert (replaced["changed"], replaced["message"], fresh["changed"], fresh["message"]) == (
        True,
        "replaced",
        True,
        "set",
    )
    assert [change["subscription"] for change in accepted["changes"]] == [
        {"id": world.sub_id(0), "version": 2},
        {"id": world.sub_id(1), "version": 2},
    ]
    assert replaced["previousAssociation"]["partner"]["mpnId"] == world.previous.mpn_id
    assert replaced["previousAssociation"]["endReason"] == "REPLACED"
    assert replaced["previousAssociation"]["validTo"] == replaced["association"]["validFrom"]
    assert fresh["previousAssociation"] is None
    for change in accepted["changes"]:
        assert change["association"]["partner"]["mpnId"] == world.partner.mpn_id
        assert change["association"]["type"] == "DIGITAL_PARTNER_OF_RECORD"
        assert (change["association"]["createdBy"], change["association"]["createdByRole"]) == ("owner-olga", "OWNER")

    # Replayed with the same key: the same answer, no second redemption, nothing written.
    before = await counts(database)
    assert (await api.data(ACCEPT, body, as_=owner))["acceptDporInvitation"] == accepted
    assert await counts(database) == before
    assert (await listed(api, world))[invitation["id"]]["redemptions"] == 1

    # The history shows it as setDigitalPartnerOfRecord writes it.
    history = (await api.data(HISTORY, {"id": world.sub_id(0)}, as_=owner))["subscription"]
    assert history["version"] == 2
    assert history["digitalPartnerOfRecord"] == {"partner": {"mpnId": world.partner.mpn_id}}
    assert [
        (row["partner"]["mpnId"], row["endReason"], row["createdByRole"])
        for row in (edge["node"] for edge in history["associationHistory"]["edges"])
    ] == [(world.partner.mpn_id, None, "OWNER"), (world.previous.mpn_id, "REPLACED", None)]

    # The audit log: setDigitalPartnerOfRecord's event per subscription and the acceptance, in one request.
    audit = [edge["node"] for edge in (await api.data(AUDIT, {"t": tenant_id}, as_=owner))["auditEvents"]["edges"]]
    assert sorted((event["action"], event["subscriptionId"]) for event in audit) == sorted(
        [
            ("acceptDporInvitation", None),
            ("setDigitalPartnerOfRecord", world.sub_id(0)),
            ("setDigitalPartnerOfRecord", world.sub_id(1)),
        ]
    )
    assert len({event["requestId"] for event in audit}) == 1
    # One acceptance is one batch: its events share one correlation id, as a bulk change's do, the payload's.
    assert {event["correlationId"] for event in audit} == {accepted["correlationId"]} != {None}
    assert {(event["actorSubject"], event["actorRole"]) for event in audit} == {("owner-olga", "OWNER")}
    (acceptance,) = [event for event in audit if event["action"] == "acceptDporInvitation"]
    assert (acceptance["targetType"], acceptance["targetId"]) == ("DporInvitation", invitation["id"])
    assert acceptance["after"]["subscriptionIds"] == [world.sub_id(0), world.sub_id(1)]

    # The partner sees the two subscriptions through its ordinary attributed view, and its list counts one.
    attributed = (await api.data(ATTRIBUTED, as_=partner))["attributedSubscriptions"]
    assert {edge["node"]["id"] for edge in attributed["edges"]} == {world.sub_id(0), world.sub_id(1)}
    assert (await listed(api, world))[invitation["id"]] | {"revokedAt": None} == {
        "id": invitation["id"],
        "status": "ACTIVE",
        "redemptions": 1,
        "maxRedemptions": 2,
        "revokedAt": None,
    }

    # A subscription of another tenant is NOT_FOUND, a stale version CONFLICT: each names its item, writes nothing,
    # and counts no redemption.
    before = await counts(database)
    foreign = global_id.encode("Subscription", world.foreign.id)
    outside = await api.execute(ACCEPT, accept_input(code, (world.sub_id(2), 1), (foreign, 1)), as_=owner)
    assert error_codes(outside) == ["NOT_FOUND"]
    assert outside["errors"][0]["extensions"]["index"] == 1
    stale = await api.execute(ACCEPT, accept_input(code, (world.sub_id(2), 1), (world.sub_id(1), 1)), as_=owner)
    assert error_codes(stale) == ["CONFLICT"]
    assert stale["errors"][0]["extensions"] | {"message": None} == {
        "code": "CONFLICT",
        "field": "subscriptions[1].expectedVersion",
        "currentVersion": 2,
        "index": 1,
        "message": None,
        "problems": [
            {
                "index": 1,
                "code": "CONFLICT",
                "message": "subscription is at version 2, not 1",
                "field": "expectedVersion",
                "currentVersion": 2,
            }
        ],
    }
    assert await counts(database) == before
    assert (await listed(api, world))[invitation["id"]]["redemptions"] == 1

    # Used up: the second (last) redemption, then the code is NOT_FOUND and listed USED_UP.
    await api.data(ACCEPT, accept_input(code, (world.sub_id(2), 1)), as_=owner)
    used_up = await api.execute(PREVIEW, {"code": code}, as_=owner)
    assert error_codes(used_up) == ["NOT_FOUND"]
    assert (await listed(api, world))[invitation["id"]]["status"] == "USED_UP"
    # ... while the first acceptance's key still replays what it did, and the key with another input is NOT_FOUND
    # like any dead code (CONFLICT would tell this code from an unknown one).
    assert (await api.data(ACCEPT, body, as_=owner))["acceptDporInvitation"] == accepted
    reused = await api.execute(ACCEPT, accept_input(code, (world.sub_id(2), 2), key="accept-1"), as_=owner)
    assert refusal(reused) == {"message": "invitation not found", "extensions": {"code": "NOT_FOUND"}}

    # Declined: recorded on the tenant, nothing else changes (the code stays usable).
    declined_code = (await create(api, world, message="Second try"))["code"]
    declined = (await api.data(DECLINE, {"input": {"code": declined_code}}, as_=owner))["declineDporInvitation"]
    assert declined == {"invitation": {"partnerName": world.partner.name, "partnerMpnId": world.partner.mpn_id}}
    audit = [edge["node"] for edge in (await api.data(AUDIT, {"t": tenant_id}, as_=owner))["auditEvents"]["edges"]]
    assert [event["action"] for event in audit].count("declineDporInvitation") == 1
    assert (await api.data(PREVIEW, {"code": declined_code}, as_=owner))["dporInvitation"] is not None

    # Revoked: by its partner only (another partner's revocation is NOT_FOUND); then NOT_FOUND and listed REVOKED.
    revoked = await create(api, world, expiresInDays=5)
    other_partner = principal(Role.PARTNER, partner=world.previous.mpn_id, subject="partner-other")
    revoke = {"input": {"invitationId": revoked["invitation"]["id"]}}
    assert error_codes(await api.execute(REVOKE, revoke, as_=other_partner)) == ["NOT_FOUND"]
    result = (await api.data(REVOKE, revoke, as_=partner))["revokeDporInvitation"]
    assert (result["changed"], result["invitation"]["status"]) == (True, "REVOKED")
    assert (await api.data(REVOKE, revoke, as_=partner))["revokeDporInvitation"]["changed"] is False
    revoked_answer = await api.execute(PREVIEW, {"code": revoked["code"]}, as_=owner)

    # Expired: a day later (the server's clock moves), a one-day invitation is NOT_FOUND and listed EXPIRED.
    expiring = await create(api, world, expiresInDays=1)
    clock.ahead = timedelta(days=1)
    expired_answer = await api.execute(PREVIEW, {"code": expiring["code"]}, as_=owner)
    statuses = {key: value["status"] for key, value in (await listed(api, world)).items()}
    assert statuses[expiring["invitation"]["id"]] == "EXPIRED"
    assert statuses[revoked["invitation"]["id"]] == "REVOKED"
    assert statuses[invitation["id"]] == "USED_UP"
    clock.ahead = timedelta(0)

    # Unknown, used up, revoked and expired: one answer, word for word, for previews, acceptances and declines.
    unknown_answer = await api.execute(PREVIEW, {"code": CODE_PREFIX + secrets.token_urlsafe(32)}, as_=owner)
    answers = [refusal(answer) for answer in (used_up, revoked_answer, expired_answer, unknown_answer)]
    assert answers == [{"message": "invitation not found", "extensions": {"code": "NOT_FOUND"}}] * 4
    for dead in (code, revoked["code"], CODE_PREFIX + secrets.token_urlsafe(32)):
        assert refusal(await api.execute(ACCEPT, accept_input(dead, (world.sub_id(2), 3)), as_=owner)) == answers[0]
        assert refusal(await api.execute(DECLINE, {"input": {"code": dead}}, as_=owner)) == answers[0]
    # ... and the expired code, accepted or declined once the server's clock is past its expiry, writes nothing.
    before = await counts(database)
    clock.ahead = timedelta(days=1)
    expired_accept = await api.execute(ACCEPT, accept_input(expiring["code"], (world.sub_id(2), 3)), as_=owner)
    assert refusal(expired_accept) == answers[0]
    assert refusal(await api.execute(DECLINE, {"input": {"code": expiring["code"]}}, as_=owner)) == answers[0]
    clock.ahead = timedelta(0)
    assert await counts(database) == before


@pytest.mark.parametrize(
    "role", [Role.SERVICE_ADMIN, Role.CO_ADMIN, Role.DELEGATED_ADMIN, Role.PARTNER, Role.PLATFORM_ADMIN]
)
async def test_only_the_owner_redeems(api: Api, database: Database, role: Role) -> None:
    world = await build_world(database)
    code = (await create(api, world))["code"]
    caller = principal(
        role,
        tenant=None if role in (Role.PARTNER, Role.PLATFORM_ADMIN) else world.tenant.external_id,
        # The delegated admin's relationship is active: its role holds, and is still refused.
        partner=world.delegated.mpn_id if role is Role.DELEGATED_ADMIN else world.partner.mpn_id,
    )
    assert (await api.data("{ viewer { roles } }", as_=caller))["viewer"]["roles"] == [role.value]
    before = await counts(database)
    for document, variables in (
        (PREVIEW, {"code": code}),
        (ACCEPT, accept_input(code, (world.sub_id(1), 1))),
        (DECLINE, {"input": {"code": code}}),
    ):
        assert error_codes(await api.execute(document, variables, as_=caller)) == ["FORBIDDEN"]
    assert await counts(database) == before
    # The owner creates none either; its refusal tells nothing about any invitation.
    assert error_codes(await api.execute(CREATE, {"input": {}}, as_=world.owner)) == ["FORBIDDEN"]


async def test_guessing_codes_is_rate_limited_per_caller(api: Api, database: Database) -> None:
    world = await build_world(database)
    valid = (await create(api, world))["code"]
    prober = principal(Role.OWNER, tenant=world.tenant.external_id, subject="owner-prober")
    allowed = api.settings.invitation_code_failures
    for attempt in range(allowed):
        guess = CODE_PREFIX + secrets.token_urlsafe(32)
        document, variables = (
            (PREVIEW, {"code": guess}) if attempt % 2 == 0 else (ACCEPT, accept_input(guess, (world.sub_id(1), 1)))
        )
        assert error_codes(await api.execute(document, variables, as_=prober)) == ["NOT_FOUND"], attempt
    limited = await api.execute(PREVIEW, {"code": CODE_PREFIX + secrets.token_urlsafe(32)}, as_=prober)
    assert error_codes(limited) == ["RATE_LIMITED"]
    assert limited["errors"][0]["extensions"]["retryAfter"] >= 1
    # From now on a valid code is refused alike (an answer that differed would keep the guessing going) ...
    for document, variables in (
        (PREVIEW, {"code": valid}),
        (ACCEPT, accept_input(valid, (world.sub_id(1), 1))),
        (DECLINE, {"input": {"code": valid}}),
    ):
        assert error_codes(await api.execute(document, variables, as_=prober)) == ["RATE_LIMITED"]
    # ... for this caller only: the budget is per token subject.
    assert (await api.data(PREVIEW, {"code": valid}, as_=world.owner))["dporInvitation"] is not None


async def test_concurrent_guesses_cannot_outrun_the_budget(api: Api, database: Database) -> None:
    """Guesses sent at once (aliases of one document, and several such documents in parallel) each hold a point
    of the budget while they look: no more of them answer NOT_FOUND than the budget allows, the rest are
    RATE_LIMITED. (Checking the budget and charging it apart let 50 guesses through a budget of 10.)"""
    world = await build_world(database)
    prober = principal(Role.OWNER, tenant=world.tenant.external_id, subject="owner-racing-prober")
    allowed = api.settings.invitation_code_failures
    root_fields = api.settings.max_root_fields
    documents = [
        "{ "
        + " ".join(
            f'g{n}: dporInvitation(code: "{CODE_PREFIX}{secrets.token_urlsafe(32)}") {{ partnerName }}'
            for n in range(root_fields)
        )
        + " }"
        for _ in range(5)
    ]
    bodies = await asyncio.gather(*(api.execute(document, as_=prober) for document in documents))
    answers = [code for body in bodies for code in error_codes(body)]
    assert len(answers) == 5 * root_fields > allowed
    assert (answers.count("NOT_FOUND"), answers.count("RATE_LIMITED")) == (allowed, len(answers) - allowed), answers
    # A caller's valid lookups at once hold their points only while they look: they cost nothing afterwards.
    valid = (await create(api, world))["code"]
    previews = " ".join(f'p{n}: dporInvitation(code: "{valid}") {{ partnerName }}' for n in range(root_fields))
    for _ in range(3):
        assert "errors" not in await api.execute("{ " + previews + " }", as_=world.owner)


async def test_creating_checks_its_input(api: Api, database: Database) -> None:
    world = await build_world(database)
    for values, field in (
        ({"expiresInDays": 0}, "expiresInDays"),
        ({"expiresInDays": 91}, "expiresInDays"),
        ({"maxRedemptions": 0}, "maxRedemptions"),
        ({"message": "x" * 1001}, "message"),
        ({"message": "a bell \x07 inside"}, "message"),
    ):
        body = await api.execute(CREATE, {"input": values}, as_=world.partner_caller)
        assert error_codes(body) == ["BAD_USER_INPUT"], values
        assert body["errors"][0]["extensions"]["field"] == field
    listed_after = await listed(api, world)
    assert listed_after == {}
    # Omitted, expiresInDays is 30; 1 and 90 are the bounds allowed.
    for values, days in (({}, 30), ({"expiresInDays": 1}, 1), ({"expiresInDays": 90}, 90)):
        made = (await create(api, world, **values))["invitation"]
        lasts = datetime.fromisoformat(made["expiresAt"]) - datetime.fromisoformat(made["createdAt"])
        assert lasts == timedelta(days=days), values
    # A subscription named twice is refused before anything is looked up.
    code = (await create(api, world))["code"]
    twice = await api.execute(ACCEPT, accept_input(code, (world.sub_id(1), 1), (world.sub_id(1), 1)), as_=world.owner)
    assert error_codes(twice) == ["BAD_USER_INPUT"]
    assert twice["errors"][0]["extensions"]["field"] == "subscriptions[1].subscriptionId"


async def test_a_last_redemption_raced_by_two_owners_goes_to_exactly_one(api: Api, database: Database) -> None:
    """Owners of different tenants race for a max_redemptions=1 invitation: the row lock on the invitation lets
    exactly one acceptance through; every other one is NOT_FOUND and writes nothing."""
    racers = 8 if database.dialect == "postgresql" else 4
    world = await build_world(database)
    async with database.write() as session:
        tenants = [factories.tenant() for _ in range(racers)]
        await factories.add_flushed(session, *tenants)
        subs = [factories.subscription(tenant) for tenant in tenants]
        await factories.add_flushed(session, *subs)
    code = (await create(api, world, maxRedemptions=1))["code"]
    owners = [
        principal(Role.OWNER, tenant=tenant.external_id, subject=f"racer-{n}") for n, tenant in enumerate(tenants)
    ]
    bodies = await asyncio.gather(
        *(
            api.execute(ACCEPT, accept_input(code, (global_id.encode("Subscription", sub.id), 1)), as_=owner)
            for owner, sub in zip(owners, subs, strict=True)
        )
    )
    outcomes = sorted("OK" if "errors" not in body else error_codes(body)[0] for body in bodies)
    assert outcomes == ["NOT_FOUND"] * (racers - 1) + ["OK"], bodies
    async with database.read() as session:
        (invitation,) = (await session.scalars(select(DporInvitation))).all()
        dpors = await session.scalar(
            select(func.count()).where(
                PartnerAssociation.subscription_id.in_([sub.id for sub in subs]),
                PartnerAssociation.type == AssociationType.DIGITAL_PARTNER_OF_RECORD,
            )
        )
    assert (invitation.redemptions, dpors) == (1, 1)


SET_DPOR = """mutation($input: SetDigitalPartnerOfRecordInput!) {
  setDigitalPartnerOfRecord(input: $input) { changed } }"""


async def test_acceptances_racing_single_changes_on_one_subscription(api: Api, database: Database) -> None:
    """Acceptances of several partners' invitations and setDigitalPartnerOfRecord calls, all at version 1 of one
    subscription: one wins, every other is CONFLICT; one active DPOR, one new row, no lost update."""
    writers = 8 if database.dialect == "postgresql" else 4
    world = await build_world(database)
    async with database.write() as session:
        partners = [factories.partner() for _ in range(writers)]
        await factories.add_flushed(session, *partners)
    callers = [principal(Role.PARTNER, partner=p.mpn_id, subject=f"inviter-{n}") for n, p in enumerate(partners)]
    invitation_codes = [
        (await api.data(CREATE, {"input": {}}, as_=caller))["createDporInvitation"]["code"] for caller in callers
    ]
    target = world.sub_id(1)
    owners = [principal(Role.OWNER, tenant=world.tenant.external_id, subject=f"owner-{n}") for n in range(writers)]
    requests = [
        api.execute(ACCEPT, accept_input(code, (target, 1)), as_=owner)
        if n % 2 == 0
        else api.execute(
            SET_DPOR,
            {"input": {"subscriptionId": target, "partnerId": global_id.encode("Partner", p.id), "expectedVersion": 1}},
            as_=owner,
        )
        for n, (code, owner, p) in enumerate(zip(invitation_codes, owners, partners, strict=True))
    ]
    bodies = await asyncio.gather(*requests)
    outcomes = sorted("OK" if "errors" not in body else error_codes(body)[0] for body in bodies)
    assert outcomes == ["CONFLICT"] * (writers - 1) + ["OK"], bodies
    async with database.read() as session:
        rows = (
            await session.scalars(
                select(PartnerAssociation).where(PartnerAssociation.subscription_id == world.subs[1].id)
            )
        ).all()
        version = await session.scalar(select(Subscription.version).where(Subscription.id == world.subs[1].id))
        redemptions = await session.scalar(select(func.sum(DporInvitation.redemptions)))
    assert [row.valid_to for row in rows] == [None]
    assert version == 2
    winner = next(n for n, body in enumerate(bodies) if "errors" not in body)
    assert redemptions == (1 if winner % 2 == 0 else 0)  # a refused acceptance counts nothing


async def test_an_acceptance_costs_the_same_statements_whatever_its_size(api: Api, database: Database) -> None:
    """Set-based, as bulkSetDigitalPartnerOfRecord: locks, checks and writes do not grow with the subscriptions."""
    world = await build_world(database)
    async with database.write() as session:
        subs = [factories.subscription(world.tenant) for _ in range(12)]
        await factories.add_flushed(session, *subs)
    code = (await api.data(CREATE, {"input": {}}, as_=world.partner_caller))["createDporInvitation"]["code"]
    await api.data("{ viewer { subject } }", as_=world.owner)  # the token's tenant id is looked up once, remembered
    counts, statements = [], []
    for chunk in (subs[:2], subs[2:12]):
        items = [(global_id.encode("Subscription", sub.id), 1) for sub in chunk]
        async with api.counting() as counter:
            accepted = await api.data(ACCEPT, accept_input(code, *items), as_=world.owner)
        assert len(accepted["acceptDporInvitation"]["changes"]) == len(chunk)
        counts.append(counter.count)
        statements.append(counter.statements)
    assert counts[0] == counts[1], (counts, statements)


FILTERED = """query($status: [DporInvitationStatus!]) { viewer { partner {
  dporInvitations(first: 20, filter: {status: $status}) { totalCount edges { node { id status } } } } } }"""


async def test_the_partner_lists_its_invitations_by_status(api: Api, database: Database, clock: Clock) -> None:
    """`dporInvitations(filter: {status: [...]})`: only those whose status now is listed, counted alike; omitted,
    every one; an empty list is BAD_USER_INPUT. The status moves with the server's clock (EXPIRED a day later)."""
    world = await build_world(database)
    partner = world.partner_caller
    ids = {}
    for name, values in {
        "active": {},
        "expiring": {"expiresInDays": 1},
        "revoked": {},
        "used": {"maxRedemptions": 1},
    }.items():
        created = await create(api, world, **values)
        ids[name] = (created["invitation"]["id"], created["code"])
    await api.data(REVOKE, {"input": {"invitationId": ids["revoked"][0]}}, as_=partner)
    await api.data(ACCEPT, accept_input(ids["used"][1], (world.sub_id(1), 1)), as_=world.owner)

    async def listed_as(status: list[str] | None) -> tuple[int, set[tuple[str, str]]]:
        found = (await api.data(FILTERED, {"status": status}, as_=partner))["viewer"]["partner"]["dporInvitations"]
        return found["totalCount"], {(edge["node"]["id"], edge["node"]["status"]) for edge in found["edges"]}

    def named(*pairs: tuple[str, str]) -> tuple[int, set[tuple[str, str]]]:
        return len(pairs), {(ids[name][0], status) for name, status in pairs}

    assert await listed_as(["ACTIVE"]) == named(("active", "ACTIVE"), ("expiring", "ACTIVE"))
    assert await listed_as(["REVOKED", "USED_UP"]) == named(("revoked", "REVOKED"), ("used", "USED_UP"))
    assert await listed_as(["EXPIRED"]) == named()
    clock.ahead = timedelta(days=1)
    assert await listed_as(["EXPIRED"]) == named(("expiring", "EXPIRED"))
    assert await listed_as(["ACTIVE", "EXPIRED"]) == named(("active", "ACTIVE"), ("expiring", "EXPIRED"))
    everything = named(("active", "ACTIVE"), ("expiring", "EXPIRED"), ("revoked", "REVOKED"), ("used", "USED_UP"))
    assert await listed_as(None) == everything
    assert await listed_as([status.value for status in DporInvitationStatus]) == everything
    empty = await api.execute(FILTERED, {"status": []}, as_=partner)
    assert error_codes(empty) == ["BAD_USER_INPUT"]
    assert empty["errors"][0]["extensions"]["field"] == "filter.status"
    # Another partner's list is its own: none of these.
    stranger = principal(Role.PARTNER, partner=world.delegated.mpn_id, subject="partner-other")
    other = (await api.data(FILTERED, {"status": None}, as_=stranger))["viewer"]["partner"]["dporInvitations"]
    assert other["totalCount"] == 0


async def test_the_status_filter_in_sql_agrees_with_the_status_in_python(database: Database) -> None:
    """state.status_among and state.status_case (SQL) and state.status (Python) name the same status for every
    combination of revoked, used up and expired (at, before and after the expiry second)."""
    async with database.write() as session:
        partner = factories.partner()
        await factories.add_flushed(session, partner)
    at = datetime(2026, 3, 1, tzinfo=UTC)
    rows = [
        DporInvitation(
            id=uuid.uuid4(),
            partner_id=partner.id,
            code_hash=code_hash(f"agree-{n}"),
            created_at=at - timedelta(days=40),
            expires_at=at + timedelta(seconds=offset),
            max_redemptions=maximum,
            redemptions=redemptions,
            revoked_at=revoked,
        )
        for n, (offset, maximum, redemptions, revoked) in enumerate(
            (offset, maximum, redemptions, revoked)
            for offset in (-1, 0, 1)
            for maximum in (None, 1, 2)
            for redemptions in (0, 1, 2)
            for revoked in (None, at - timedelta(days=1))
            if maximum is None or redemptions <= maximum
        )
    ]
    async with database.write() as session:
        await factories.add_flushed(session, *rows)
    async with database.read() as session:
        for status in DporInvitationStatus:
            found = set(await session.scalars(select(DporInvitation.id).where(state.status_among([status], at))))
            assert found == {row.id for row in rows if state.status(row, at) is status}, status
            assert found, status  # every status occurs
        none = await session.scalars(select(DporInvitation.id).where(state.status_among([], at)))
        assert list(none) == []
        # The CASE the compiled path writes `status` with (resolvers/compiled/invitations.py) names each row's.
        named = await session.execute(select(DporInvitation.id, state.status_case(at)))
        cased = {row_id: name for row_id, name in named}
        assert cased == {row.id: state.status(row, at).value for row in rows}


async def test_a_refused_acceptance_names_its_first_failing_item(api: Api, database: Database) -> None:
    """Several failing items: the error is the one at the lowest position, whatever its kind, `problems` lists
    every one, and nothing is written (no row, no event, no version, no redemption)."""
    world = await build_world(database)
    code = (await api.data(CREATE, {"input": {}}, as_=world.partner_caller))["createDporInvitation"]["code"]
    foreign = global_id.encode("Subscription", world.foreign.id)
    before = await counts(database)
    for items, expected in (
        (
            ((world.sub_id(1), 1), (foreign, 1), (world.sub_id(2), 7)),
            (1, "NOT_FOUND", "subscriptions[1].subscriptionId"),
        ),
        (
            ((world.sub_id(1), 1), (world.sub_id(2), 7), (foreign, 1)),
            (1, "CONFLICT", "subscriptions[1].expectedVersion"),
        ),
    ):
        body = await api.execute(ACCEPT, accept_input(code, *items), as_=world.owner)
        (error,) = body["errors"]
        extensions = error["extensions"]
        assert (extensions["index"], extensions["code"], extensions["field"]) == expected
        # Every failing item is listed, the other one too, each with its code (and the version it is at).
        problems = {
            problem["index"]: (problem["code"], problem.get("currentVersion")) for problem in extensions["problems"]
        }
        failing = {
            position: ("NOT_FOUND", None) if sub == foreign else ("CONFLICT", 1)
            for position, (sub, _) in enumerate(items)
            if position
        }
        assert problems == failing
    assert await counts(database) == before
    assert [row["redemptions"] for row in (await listed(api, world)).values()] == [0]
