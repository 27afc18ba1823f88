"""Partner admin links bound to access (issue 14): a link ends with the delegated admin relationship behind it, at the
same instant, with ROLE_REVOKED, whether the relationship is ended by hand or expires; attribution stops there.

Told over HTTP with real tokens, on a server clock the test moves (tests/server_clock.py); the attribution is held
to the naive oracle (tests/usage_oracle.py).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from auth.principal import Role
from auth.scope import resolve_scope
from db.association import PartnerAssociation
from db.audit import AuditEvent
from db.delegation import DelegatedAdminRelationship
from db.engine import Database
from db.enums import AssociationEndReason, AssociationType, DelegationStatus
from db.subscription import Subscription
from gateway import cli
from gateway.sweeper import sweeping
from resolvers.associations import LinkArgs, link_partner
from resolvers.authorize import SYSTEM_ROLE
from resolvers.errors import Forbidden
from resolvers.sweep import sweep
from resolvers.transaction import in_transaction
from resolvers.usage.aggregate_types import AggregateFilter, GroupBy
from resolvers.usage.aggregates import usage_aggregates
from resolvers.usage.ingestion import ingest_usage
from schema import global_id
from tests import factories
from tests.api import Api, error_codes, principal
from tests.server_clock import ServerClock
from tests.usage_helpers import ALL, reach, record
from tests.usage_oracle import RawAssociation, RawRecord, canonical, expected_rows

ADMIN = principal(Role.PLATFORM_ADMIN, subject="platform-admin")
LINKED_AT = datetime(2026, 3, 2, 9, tzinfo=UTC)
# Noon: the last day attributed counts half.
ENDS_AT = datetime(2026, 3, 5, 12, tzinfo=UTC)
MARCH = AggregateFilter(date_from=date(2026, 3, 1), date_to=date(2026, 3, 10))
DAYS = [MARCH.date_from + timedelta(days=offset) for offset in range(10)]

CREATE = """mutation($input: CreateDelegatedAdminRelationshipInput!) {
  createDelegatedAdminRelationship(input: $input) { relationship { id status expiresAt endedAt } } }"""
END = """mutation($input: EndDelegatedAdminRelationshipInput!) {
  endDelegatedAdminRelationship(input: $input) { relationship { status endedAt } } }"""
LINK = """mutation($input: LinkPartnerInput!) {
  linkPartner(input: $input) { association { id validFrom } subscription { version } } }"""
ASSOCIATIONS = """query($id: ID!) { subscription(id: $id) { version
  partnerAssociations(includeEnded: true) { id type validTo endReason endedByRole } } }"""
ATTRIBUTED = """query($p: ID!) { usageAggregates(filter: {from: "2026-03-01", to: "2026-03-10", partnerId: $p},
  groupBy: [DAY]) { day associationType attribution { amount } } }"""


async def _world(database: Database) -> dict[str, Any]:
    tenant, partner = factories.tenant(), factories.partner()
    async with database.write() as session:
        await factories.add_flushed(session, tenant, partner)
        sub = factories.subscription(tenant)
        await factories.add_flushed(session, sub)
        # 1.00 a day: the attributed amount of a day is its share.
        await ingest_usage(session, [record(sub, day) for day in DAYS])
    return {
        "tenant": tenant,
        "partner": partner,
        "sub": sub,
        "owner": principal(Role.OWNER, tenant=tenant.external_id, subject="owner@contoso"),
        "delegated": principal(Role.DELEGATED_ADMIN, tenant=tenant.external_id, partner=partner.mpn_id),
    }


async def _delegate(api: Api, w: dict[str, Any], expires_at: datetime | None = None) -> str:
    given: dict[str, Any] = {
        "tenantId": global_id.encode("Tenant", w["tenant"].id),
        "partnerId": global_id.encode("Partner", w["partner"].id),
    }
    if expires_at is not None:
        given["expiresAt"] = expires_at.isoformat()
    created = (await api.data(CREATE, {"input": given}, as_=ADMIN))["createDelegatedAdminRelationship"]
    relationship: dict[str, Any] = created["relationship"]
    assert relationship["status"] == "ACTIVE"
    return str(relationship["id"])


def _link_input(w: dict[str, Any], version: int) -> dict[str, Any]:
    return {
        "input": {
            "subscriptionId": global_id.encode("Subscription", w["sub"].id),
            "partnerId": global_id.encode("Partner", w["partner"].id),
            "type": "PARTNER_ADMIN_LINK",
            "expectedVersion": version,
        }
    }


async def _link(api: Api, w: dict[str, Any]) -> str:
    """The delegated admin sets its own partner's admin link, at LINKED_AT."""
    linked = (await api.data(LINK, _link_input(w, 1), as_=w["delegated"]))["linkPartner"]
    assert linked["association"]["validFrom"] == "2026-03-02T09:00:00Z"
    return str(linked["association"]["id"])


async def _link_row(api: Api, w: dict[str, Any], link_id: str) -> dict[str, Any]:
    answer = await api.data(ASSOCIATIONS, {"id": global_id.encode("Subscription", w["sub"].id)}, as_=w["owner"])
    (row,) = [row for row in answer["subscription"]["partnerAssociations"] if row["id"] == link_id]
    return dict(row)


async def _attribution_stops_at(api: Api, database: Database, w: dict[str, Any], ended: datetime) -> None:
    """The partner's attribution is the oracle's for a link over [LINKED_AT, ended): day by day, to the second."""
    async with database.read() as session:
        actual = await usage_aggregates(session, MARCH, [GroupBy.DAY, GroupBy.PARTNER], reach(ALL))
    records = [RawRecord(w["sub"].id, day, "meter-1", "Compute", Decimal(1), Decimal("1.00"), "USD") for day in DAYS]
    link = RawAssociation(w["sub"].id, w["partner"].id, AssociationType.PARTNER_ADMIN_LINK, LINKED_AT, ended)
    expected = expected_rows(records, [link], {w["sub"].id: w["tenant"].id}, MARCH, {GroupBy.DAY, GroupBy.PARTNER}, ALL)
    assert canonical(actual) == canonical(expected)
    # The same over HTTP, as a reader sees it: 15/24 of the 2nd, whole days, half of the 5th, nothing after.
    answer = await api.data(ATTRIBUTED, {"p": global_id.encode("Partner", w["partner"].id)}, as_=ADMIN)
    shares = {row["day"]: row["attribution"]["amount"] for row in answer["usageAggregates"]}
    assert shares == {"2026-03-02": "0.62", "2026-03-03": "1.00", "2026-03-04": "1.00", "2026-03-05": "0.50"}


async def test_ending_the_relationship_ends_the_link_at_that_second(
    api: Api, database: Database, server_clock: ServerClock
) -> None:
    w = await _world(database)
    server_clock.set(LINKED_AT - timedelta(hours=1))
    relationship = await _delegate(api, w)
    server_clock.set(LINKED_AT)
    link = await _link(api, w)

    server_clock.set(ENDS_AT + timedelta(microseconds=250_000))  # intervals are whole seconds
    ended = await api.data(END, {"input": {"relationshipId": relationship}}, as_=w["owner"])
    assert ended["endDelegatedAdminRelationship"]["relationship"]["endedAt"] == "2026-03-05T12:00:00Z"

    row = await _link_row(api, w, link)
    assert row == {
        "id": link,
        "type": "PARTNER_ADMIN_LINK",
        "validTo": "2026-03-05T12:00:00Z",
        "endReason": "ROLE_REVOKED",
        "endedByRole": "OWNER",
    }
    await _attribution_stops_at(api, database, w, ENDS_AT)
    # The partner's admin access went with it: its delegated admin token sets no link any more.
    body = await api.execute(LINK, _link_input(w, 3), as_=w["delegated"])
    assert error_codes(body) == ["FORBIDDEN"], body


async def test_an_expired_relationship_ends_its_link_at_the_expiry_whatever_the_sweeps_lag(
    api: Api, database: Database, server_clock: ServerClock
) -> None:
    w = await _world(database)
    server_clock.set(LINKED_AT - timedelta(hours=1))
    relationship = await _delegate(api, w, expires_at=ENDS_AT)
    server_clock.set(LINKED_AT)
    link = await _link(api, w)
    tenant_read = "query($id: ID!) { tenant(id: $id) { id } }"
    tenant_id = {"id": global_id.encode("Tenant", w["tenant"].id)}

    server_clock.set(ENDS_AT - timedelta(seconds=1))
    assert (await api.data(tenant_read, tenant_id, as_=w["delegated"]))["tenant"] is not None
    # From the expiry second on the partner holds no delegated admin role, before any sweep has run.
    server_clock.set(ENDS_AT)
    assert error_codes(await api.execute(tenant_read, tenant_id, as_=w["delegated"])) == ["FORBIDDEN"]
    assert error_codes(await api.execute(LINK, _link_input(w, 2), as_=w["delegated"])) == ["FORBIDDEN"]
    assert (await _link_row(api, w, link))["validTo"] is None  # not recorded yet: the sweep does that

    server_clock.advance(days=3, seconds=17)  # the sweep comes late
    report = await sweep(database)
    assert report.expired_relationships == 1
    row = await _link_row(api, w, link)
    assert (row["validTo"], row["endReason"], row["endedByRole"]) == ("2026-03-05T12:00:00Z", "ROLE_REVOKED", "SYSTEM")
    await _attribution_stops_at(api, database, w, ENDS_AT)
    async with database.read() as session:
        stored = await session.get(
            DelegatedAdminRelationship, global_id.decode(relationship, "DelegatedAdminRelationship", field="id")
        )
        events = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "delegatedAdminRelationshipExpired"))
        ).all()
    assert stored is not None and stored.status is DelegationStatus.ENDED and stored.ended_at == ENDS_AT
    (event,) = events
    assert event.actor_role == SYSTEM_ROLE and event.after is not None
    assert event.after["endedAdminLinks"] == [link]
    # Swept once: another pass changes nothing.
    assert (await sweep(database)).expired_relationships == 0


async def test_concurrent_sweeps_end_an_expired_relationship_once(
    api: Api, database: Database, server_clock: ServerClock
) -> None:
    w = await _world(database)
    server_clock.set(LINKED_AT - timedelta(hours=1))
    await _delegate(api, w, expires_at=ENDS_AT)
    server_clock.set(LINKED_AT)
    link = await _link(api, w)
    server_clock.set(ENDS_AT + timedelta(hours=1))
    reports = await asyncio.gather(*(sweep(database) for _ in range(4)))
    assert sum(report.expired_relationships for report in reports) == 1
    async with database.read() as session:
        events = await session.scalar(
            select(func.count()).where(AuditEvent.action == "delegatedAdminRelationshipExpired")
        )
    assert events == 1
    assert (await _link_row(api, w, link))["validTo"] == "2026-03-05T12:00:00Z"


async def test_an_expired_relationship_ended_by_hand_ends_at_its_expiry(
    api: Api, database: Database, server_clock: ServerClock
) -> None:
    w = await _world(database)
    server_clock.set(LINKED_AT - timedelta(hours=1))
    relationship = await _delegate(api, w, expires_at=ENDS_AT)
    server_clock.set(LINKED_AT)
    link = await _link(api, w)
    server_clock.set(ENDS_AT + timedelta(days=1))
    ended = await api.data(END, {"input": {"relationshipId": relationship}}, as_=w["owner"])
    assert ended["endDelegatedAdminRelationship"]["relationship"]["endedAt"] == "2026-03-05T12:00:00Z"
    assert (await _link_row(api, w, link))["validTo"] == "2026-03-05T12:00:00Z"
    await _attribution_stops_at(api, database, w, ENDS_AT)


async def test_a_new_relationship_replaces_one_expired_but_not_yet_swept(
    api: Api, database: Database, server_clock: ServerClock
) -> None:
    w = await _world(database)
    server_clock.set(LINKED_AT - timedelta(hours=1))
    first = await _delegate(api, w, expires_at=ENDS_AT)
    server_clock.set(ENDS_AT + timedelta(hours=2))
    second = await _delegate(api, w)
    assert second != first
    async with database.read() as session:
        old = await session.get(
            DelegatedAdminRelationship, global_id.decode(first, "DelegatedAdminRelationship", field="id")
        )
    assert old is not None and old.status is DelegationStatus.ENDED and old.ended_at == ENDS_AT
    # And the partner is a delegated admin again.
    tenant_read = "query($id: ID!) { tenant(id: $id) { id } }"
    assert await api.data(tenant_read, {"id": global_id.encode("Tenant", w["tenant"].id)}, as_=w["delegated"])


@pytest.mark.parametrize("expires_at", ["2026-03-01T00:00:00Z", "2026-02-01T00:00:00Z"])
async def test_an_expiry_must_lie_in_the_future(
    api: Api, database: Database, server_clock: ServerClock, expires_at: str
) -> None:
    w = await _world(database)
    given = {
        "tenantId": global_id.encode("Tenant", w["tenant"].id),
        "partnerId": global_id.encode("Partner", w["partner"].id),
        "expiresAt": expires_at,
    }
    body = await api.execute(CREATE, {"input": given}, as_=ADMIN)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == "expiresAt"


async def test_the_background_sweep_and_the_command_end_expired_relationships(
    api: Api,
    database: Database,
    server_clock: ServerClock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    w = await _world(database)
    server_clock.set(LINKED_AT - timedelta(hours=1))
    await _delegate(api, w, expires_at=ENDS_AT)
    server_clock.set(ENDS_AT + timedelta(minutes=5))

    async def status() -> DelegationStatus:
        async with database.read() as session:
            row = await session.scalar(select(DelegatedAdminRelationship))
        assert row is not None
        return row.status

    async with sweeping(database, 0.02):
        for _ in range(250):
            if await status() is DelegationStatus.ENDED:
                break
            await asyncio.sleep(0.02)
    assert await status() is DelegationStatus.ENDED

    # `dpor-gateway sweep`, on a second expired relationship (its own event loop, so in a thread).
    other = {**w, "partner": factories.partner()}
    async with database.write() as session:
        await factories.add_flushed(session, other["partner"])
    server_clock.set(LINKED_AT)
    await _delegate(api, other, expires_at=ENDS_AT)
    server_clock.set(ENDS_AT + timedelta(minutes=5))
    monkeypatch.setenv("DPOR_DATABASE_URL", database.engine.url.render_as_string(hide_password=False))
    assert await asyncio.to_thread(cli.main, ["sweep"]) == 0
    assert "expired delegated admin relationships ended: 1" in capsys.readouterr().out


async def test_links_racing_the_relationship_s_end_never_outlive_it(
    api: Api, database: Database, server_clock: ServerClock
) -> None:
    """The delegated admin sets admin links on several subscriptions while the owner ends its relationship: a link
    either lands before the end (and ends with it, ROLE_REVOKED at that second) or is refused; none stays active
    for a partner without access. (A link whose caller was still a delegated admin when its request began, but
    written after the end had read the tenant's links, outlived it.)"""
    rounds, links = (6, 8) if database.dialect == "postgresql" else (4, 4)
    w = await _world(database)
    async with database.write() as session:
        subs = [factories.subscription(w["tenant"]) for _ in range(links)]
        await factories.add_flushed(session, *subs)
    server_clock.set(LINKED_AT)
    outcomes: dict[str, int] = {}
    for round_ in range(rounds):
        relationship = await _delegate(api, w)
        versions = await _versions(database, subs)
        requests = [
            api.execute(LINK, _link_on(w, sub, versions[sub.id]), as_=w["delegated"]) for sub in subs[: round_ + 1]
        ]
        requests.insert(
            round_ % (len(requests) + 1), api.execute(END, {"input": {"relationshipId": relationship}}, as_=w["owner"])
        )
        bodies = await asyncio.gather(*requests)
        for body in bodies:
            outcome = "ok" if "errors" not in body else error_codes(body)[0]
            # A link after the end is FORBIDDEN (NOT_FOUND as the app role: row-level security already hides the
            # tenant from a delegation that ended), or CONFLICT on a version the end moved on.
            assert outcome in ("ok", "FORBIDDEN", "NOT_FOUND", "CONFLICT"), body
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        async with database.read() as session:
            active = await session.scalar(
                select(func.count()).where(
                    PartnerAssociation.type == AssociationType.PARTNER_ADMIN_LINK,
                    PartnerAssociation.valid_to.is_(None),
                )
            )
            ended = await session.scalar(
                select(DelegatedAdminRelationship.ended_at).where(
                    DelegatedAdminRelationship.id
                    == global_id.decode(relationship, "DelegatedAdminRelationship", field="id")
                )
            )
            reasons = set(
                await session.scalars(
                    select(PartnerAssociation.end_reason).where(
                        PartnerAssociation.type == AssociationType.PARTNER_ADMIN_LINK
                    )
                )
            )
        assert (active, ended) == (0, LINKED_AT), outcomes
        assert reasons <= {AssociationEndReason.ROLE_REVOKED}
    assert outcomes.get("ok", 0) >= rounds  # the ends, and some links, got through


async def _versions(database: Database, subs: list[Any]) -> dict[Any, int]:
    async with database.read() as session:
        rows = await session.execute(
            select(Subscription.id, Subscription.version).where(Subscription.id.in_([sub.id for sub in subs]))
        )
    return {row[0]: row[1] for row in rows}


def _link_on(w: dict[str, Any], sub: Any, version: int) -> dict[str, Any]:
    given = _link_input(w, version)
    given["input"]["subscriptionId"] = global_id.encode("Subscription", sub.id)
    return given


async def test_a_link_whose_relationship_ended_after_its_request_began_is_forbidden(
    api: Api, database: Database, server_clock: ServerClock
) -> None:
    """The deterministic case of the race above: the delegated admin's role held when its request began, and the
    relationship ended before the link's transaction: FORBIDDEN, and no link outlives the relationship."""
    w = await _world(database)
    server_clock.set(LINKED_AT - timedelta(hours=1))
    relationship = await _delegate(api, w)
    server_clock.set(LINKED_AT)
    async with database.read() as session:
        scope = await resolve_scope(session, w["delegated"])
    assert Role.DELEGATED_ADMIN in scope.roles
    await api.data(END, {"input": {"relationshipId": relationship}}, as_=w["owner"])
    args = LinkArgs(w["sub"].id, w["partner"].id, AssociationType.PARTNER_ADMIN_LINK, 1, None)
    with pytest.raises(Forbidden):
        await in_transaction(database, lambda session: link_partner(session, scope, "test", args))
    async with database.read() as session:
        links = await session.scalar(
            select(func.count()).where(PartnerAssociation.type == AssociationType.PARTNER_ADMIN_LINK)
        )
    assert links == 0
