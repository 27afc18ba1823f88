"""Claims with a decline window (issue 14), told over HTTP with real tokens on every backend: a partner with
delegated admin access claims two subscriptions; the owner sees them pending and declines one; the other ripens at
the end of its window (the server clock moved, tests/server_clock.py) and is attributed from its claim time, as the
naive oracle (tests/usage_oracle.py) says; the roles that may not claim or decline are refused.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, update

from auth.principal import Role
from auth.scope import resolve_scope
from db.association import PartnerAssociation
from db.audit import AuditEvent
from db.delegation import DelegatedAdminRelationship
from db.engine import Database
from db.enums import AssociationStatus, AssociationType, DelegationStatus, SubscriptionStatus
from db.subscription import Subscription
from resolvers import claims
from resolvers.errors import Forbidden
from resolvers.sweep import sweep
from resolvers.transaction import in_transaction
from resolvers.usage.aggregate_types import AggregateFilter, GroupBy
from resolvers.usage.aggregates import usage_aggregates
from resolvers.usage.ingestion import ingest_usage
from schema import global_id
from tests import factories
from tests.api import Api, api_for, error_codes, principal
from tests.server_clock import ServerClock
from tests.usage_helpers import ALL, reach, record
from tests.usage_oracle import RawAssociation, RawRecord, canonical, expected_rows

ADMIN = principal(Role.PLATFORM_ADMIN, subject="platform-admin")
CLAIMED_AT = datetime(2026, 3, 2, 6, tzinfo=UTC)  # 3/4 of 2 March attributed, once ripened
DECLINE_BY = CLAIMED_AT + timedelta(days=30)
WINDOW = AggregateFilter(date_from=date(2026, 3, 1), date_to=date(2026, 3, 10))
DAYS = [WINDOW.date_from + timedelta(days=offset) for offset in range(10)]

ROW = "id type status validFrom validTo endReason recognitionRole claim { workload evidence declineBy }"
CLAIM = f"""mutation($input: ClaimPartnerOfRecordInput!) {{
  claimPartnerOfRecord(input: $input) {{ changed claims {{ {ROW} subscription {{ id version }} }} }} }}"""
DECLINE = f"""mutation($input: DeclineClaimInput!) {{
  declineClaim(input: $input) {{ changed message subscription {{ version }} previousAssociation {{ {ROW} }} }} }}"""
PENDING = """query($t: ID) { pendingClaims(tenantId: $t, first: 10) {
  totalCount edges { node { id status partner { mpnId } claim { workload declineBy } } } } }"""
SUBSCRIPTION = """query($id: ID!) { subscription(id: $id) { version digitalPartnerOfRecord { id partner { mpnId } }
  partnerAssociations(includeEnded: true) { id status recognitionRole } } }"""
ATTRIBUTED = """query($p: ID!) { usageAggregates(filter: {from: "2026-03-01", to: "2026-03-10", partnerId: $p},
  groupBy: [SUBSCRIPTION]) { associationType subscription { id } attribution { amount } } }"""


async def _world(database: Database) -> dict[str, Any]:
    tenant, other = factories.tenant(), factories.tenant()
    partner, dpor = factories.partner(), factories.partner()
    async with database.write() as session:
        await factories.add_flushed(session, tenant, other, partner, dpor)
        first, second, foreign = (
            factories.subscription(tenant),
            factories.subscription(tenant),
            factories.subscription(other),
        )
        await factories.add_flushed(session, first, second, foreign)
        session.add(DelegatedAdminRelationship(tenant_id=tenant.id, partner_id=partner.id))
        # The DPOR of the second subscription: a claim never touches it.
        session.add(factories.association(second, dpor, valid_from=datetime(2026, 1, 1, tzinfo=UTC)))
        await ingest_usage(session, [record(sub, day) for sub in (first, second) for day in DAYS])
    return {
        "tenant": tenant,
        "partner": partner,
        "dpor": dpor,
        "first": first,
        "second": second,
        "foreign": foreign,
        "owner": principal(Role.OWNER, tenant=tenant.external_id, subject="owner@contoso"),
        "delegated": principal(Role.DELEGATED_ADMIN, tenant=tenant.external_id, partner=partner.mpn_id),
    }


def _sub(w: dict[str, Any], name: str) -> str:
    return global_id.encode("Subscription", w[name].id)


def _claim_input(w: dict[str, Any], *names: str, key: str | None = None, **extra: Any) -> dict[str, Any]:
    given = {
        "subscriptionIds": [_sub(w, name) for name in names],
        "workload": "Azure landing zone",
        "evidence": "Statement of work 2026-014, signed 1 March.",
        "recognitionRole": "SELL_AND_DEPLOY",
        **extra,
    }
    if key is not None:
        given["idempotencyKey"] = key
    return {"input": given}


async def _claims(api: Api, w: dict[str, Any]) -> list[dict[str, Any]]:
    made = await api.data(CLAIM, _claim_input(w, "first", "second", key="claim-1"), as_=w["delegated"])
    assert made["claimPartnerOfRecord"]["changed"] is True
    claims: list[dict[str, Any]] = made["claimPartnerOfRecord"]["claims"]
    return claims


async def _pending(api: Api, w: dict[str, Any]) -> list[dict[str, Any]]:
    answer = await api.data(PENDING, {"t": global_id.encode("Tenant", w["tenant"].id)}, as_=w["owner"])
    return [edge["node"] for edge in answer["pendingClaims"]["edges"]]


async def _written(database: Database) -> tuple[int, int, int]:
    """(association rows, audit events, sum of subscription versions): what any write would move."""
    async with database.read() as session:
        rows = await session.scalar(select(func.count()).select_from(PartnerAssociation))
        events = await session.scalar(select(func.count()).select_from(AuditEvent))
        versions = await session.scalar(select(func.sum(Subscription.version)))
    return int(rows or 0), int(events or 0), int(versions or 0)


async def _attributed(api: Api, w: dict[str, Any]) -> dict[tuple[str, str], str]:
    answer = await api.data(ATTRIBUTED, {"p": global_id.encode("Partner", w["partner"].id)}, as_=ADMIN)
    return {
        (row["associationType"], row["subscription"]["id"]): row["attribution"]["amount"]
        for row in answer["usageAggregates"]
    }


async def test_a_claim_declined_and_a_claim_that_ripens(
    api: Api, database: Database, server_clock: ServerClock
) -> None:
    w = await _world(database)
    server_clock.set(CLAIMED_AT)
    dpor_row = (await api.data(SUBSCRIPTION, {"id": _sub(w, "second")}, as_=w["owner"]))["subscription"][
        "digitalPartnerOfRecord"
    ]["id"]
    first, second = await _claims(api, w)
    for claim, name in ((first, "first"), (second, "second")):
        assert claim["subscription"]["id"] == _sub(w, name)
        assert claim["subscription"]["version"] == 2
        assert (claim["type"], claim["status"], claim["validFrom"], claim["validTo"]) == (
            "CLAIMING_PARTNER_OF_RECORD",
            "PENDING",
            "2026-03-02T06:00:00Z",
            None,
        )
        assert claim["recognitionRole"] == "SELL_AND_DEPLOY"
        assert claim["claim"] == {
            "workload": "Azure landing zone",
            "evidence": "Statement of work 2026-014, signed 1 March.",
            "declineBy": "2026-04-01T06:00:00Z",
        }
    # A retry with the key answers the first result and writes nothing.
    replayed = await api.data(CLAIM, _claim_input(w, "first", "second", key="claim-1"), as_=w["delegated"])
    assert replayed["claimPartnerOfRecord"]["claims"] == [first, second]
    # Claiming again without a key changes nothing: the claims stand.
    again = await api.data(CLAIM, _claim_input(w, "second"), as_=w["delegated"])
    assert again["claimPartnerOfRecord"]["changed"] is False
    assert again["claimPartnerOfRecord"]["claims"][0]["id"] == second["id"]

    pending = await _pending(api, w)
    assert [row["id"] for row in pending] == [first["id"], second["id"]]  # one window: in the order claimed
    assert {row["partner"]["mpnId"] for row in pending} == {w["partner"].mpn_id}
    # Pending: not attributed.
    assert await _attributed(api, w) == {}

    server_clock.set(datetime(2026, 3, 4, 12, tzinfo=UTC))
    declined = (await api.data(DECLINE, {"input": {"claimId": first["id"]}}, as_=w["owner"]))["declineClaim"]
    assert declined["changed"] is True
    row = declined["previousAssociation"]
    assert (row["status"], row["validTo"], row["endReason"]) == (
        "DECLINED",
        "2026-03-04T12:00:00Z",
        "CUSTOMER_DECLINED",
    )
    assert declined["subscription"]["version"] == 3
    # Declining it again is no change, and writes nothing (no version, no event).
    before = await _written(database)
    declined_again = (await api.data(DECLINE, {"input": {"claimId": first["id"]}}, as_=w["owner"]))["declineClaim"]
    assert (declined_again["changed"], declined_again["message"]) == (False, "the claim was already declined")
    assert declined_again["subscription"]["version"] == 3
    assert await _written(database) == before
    assert [row["id"] for row in await _pending(api, w)] == [second["id"]]

    # The window closes at declineBy: the owner can no longer decline, before any sweep has recorded it.
    server_clock.set(DECLINE_BY)
    body = await api.execute(DECLINE, {"input": {"claimId": second["id"]}}, as_=w["owner"])
    assert error_codes(body) == ["CONFLICT"], body
    assert body["errors"][0]["extensions"]["declineBy"] == "2026-04-01T06:00:00+00:00"
    assert await _pending(api, w) == []

    server_clock.advance(minutes=3)
    report = await sweep(database)
    assert (report.ripened_claims, report.expired_relationships) == (1, 0)
    assert (await sweep(database)).ripened_claims == 0
    answer = await api.data(SUBSCRIPTION, {"id": _sub(w, "second")}, as_=w["owner"])
    statuses = {row["id"]: row["status"] for row in answer["subscription"]["partnerAssociations"]}
    roles = {row["id"]: row["recognitionRole"] for row in answer["subscription"]["partnerAssociations"]}
    assert statuses[second["id"]] == "ACTIVE"
    # The DPOR is untouched by the claim: the same row, of the same partner.
    assert answer["subscription"]["digitalPartnerOfRecord"] == {"id": dpor_row, "partner": {"mpnId": w["dpor"].mpn_id}}
    # The claim's recognition role is in the subscription's history.
    assert (statuses[second["id"]], roles[second["id"]]) == ("ACTIVE", "SELL_AND_DEPLOY")
    assert answer["subscription"]["version"] == 3  # claimed, ripened
    # Attributed from its claim time: 3/4 of 2 March, then whole days; the declined claim never.
    assert await _attributed(api, w) == {("CLAIMING_PARTNER_OF_RECORD", _sub(w, "second")): "8.75"}
    async with database.read() as session:
        actual = await usage_aggregates(session, WINDOW, [GroupBy.PARTNER, GroupBy.DAY], reach(ALL))
        actions = dict(
            (await session.execute(select(AuditEvent.action, func.count()).group_by(AuditEvent.action))).all()
        )
        ripened_by = await session.scalar(select(AuditEvent.actor_role).where(AuditEvent.action == "claimRipened"))
    records = [
        RawRecord(sub.id, day, "meter-1", "Compute", Decimal(1), Decimal("1.00"), "USD")
        for sub in (w["first"], w["second"])
        for day in DAYS
    ]
    associations = [
        RawAssociation(
            w["second"].id,
            w["dpor"].id,
            AssociationType.DIGITAL_PARTNER_OF_RECORD,
            datetime(2026, 1, 1, tzinfo=UTC),
            None,
        ),
        RawAssociation(w["second"].id, w["partner"].id, AssociationType.CLAIMING_PARTNER_OF_RECORD, CLAIMED_AT, None),
        RawAssociation(
            w["first"].id,
            w["partner"].id,
            AssociationType.CLAIMING_PARTNER_OF_RECORD,
            CLAIMED_AT,
            datetime(2026, 3, 4, 12, tzinfo=UTC),
            status=AssociationStatus.DECLINED,
        ),
    ]
    tenant_of = {sub.id: w["tenant"].id for sub in (w["first"], w["second"])}
    expected = expected_rows(records, associations, tenant_of, WINDOW, {GroupBy.PARTNER, GroupBy.DAY}, ALL)
    assert canonical(actual) == canonical(expected)
    assert actions == {"claimPartnerOfRecord": 2, "declineClaim": 1, "claimRipened": 1}
    assert ripened_by == "SYSTEM"


async def test_only_a_delegated_admin_claims_and_only_the_owner_declines(
    api: Api, database: Database, server_clock: ServerClock
) -> None:
    w = await _world(database)
    server_clock.set(CLAIMED_AT)
    tenant = w["tenant"].external_id
    for refused in (
        w["owner"],
        principal(Role.SERVICE_ADMIN, tenant=tenant),
        principal(Role.CO_ADMIN, tenant=tenant),
        principal(Role.PARTNER, partner=w["partner"].mpn_id),
        ADMIN,
        principal(Role.USAGE_INGEST),
    ):
        body = await api.execute(CLAIM, _claim_input(w, "first"), as_=refused)
        assert error_codes(body) == ["FORBIDDEN"], (refused.roles, body)
    (claim,) = (await api.data(CLAIM, _claim_input(w, "first"), as_=w["delegated"]))["claimPartnerOfRecord"]["claims"]
    for refused in (
        w["delegated"],
        principal(Role.SERVICE_ADMIN, tenant=tenant),
        principal(Role.CO_ADMIN, tenant=tenant),
        principal(Role.PARTNER, partner=w["partner"].mpn_id),
        ADMIN,
    ):
        body = await api.execute(DECLINE, {"input": {"claimId": claim["id"]}}, as_=refused)
        assert error_codes(body) == ["FORBIDDEN"], (refused.roles, body)
    # Nor may a service admin end a pending claim by unlinking it.
    unlink = "mutation($i: UnlinkPartnerInput!) { unlinkPartner(input: $i) { changed } }"
    body = await api.execute(
        unlink,
        {"i": {"associationId": claim["id"], "expectedVersion": 2}},
        as_=principal(Role.SERVICE_ADMIN, tenant=tenant),
    )
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    # Another tenant's owner does not find it; nor do the partner's other roles list pending claims.
    stranger = principal(Role.OWNER, tenant=factories.tenant().external_id)
    assert error_codes(await api.execute(DECLINE, {"input": {"claimId": claim["id"]}}, as_=stranger)) == ["NOT_FOUND"]
    assert error_codes(
        await api.execute(PENDING, {"t": None}, as_=principal(Role.PARTNER, partner=w["partner"].mpn_id))
    ) == ["FORBIDDEN"]


async def test_a_claim_reaches_only_the_customers_subscriptions_and_writes_nothing_else(
    api: Api, database: Database, server_clock: ServerClock
) -> None:
    w = await _world(database)
    server_clock.set(CLAIMED_AT)
    missing = {
        "input": {
            **_claim_input(w, "first")["input"],
            "subscriptionIds": [_sub(w, "first"), global_id.encode("Subscription", factories.tenant().id)],
        }
    }
    foreign = await api.execute(CLAIM, _claim_input(w, "first", "foreign"), as_=w["delegated"])
    unknown = await api.execute(CLAIM, missing, as_=w["delegated"])
    for body in (foreign, unknown):
        assert error_codes(body) == ["NOT_FOUND"], body
        assert body["errors"][0]["extensions"]["index"] == 1
    assert foreign["errors"][0]["message"] == unknown["errors"][0]["message"]
    for bad, field in (
        (_claim_input(w, "first", "first"), "subscriptionIds"),
        (_claim_input(w, "first", evidence="x" * 4_097), "evidence"),
        (_claim_input(w, "first", evidence="é" * 2_049), "evidence"),  # 4,098 bytes of UTF-8
        (_claim_input(w, "first", workload=" "), "workload"),
    ):
        body = await api.execute(CLAIM, bad, as_=w["delegated"])
        assert error_codes(body) == ["BAD_USER_INPUT"], body
        assert body["errors"][0]["extensions"]["field"] == field
    # NUL, which PostgreSQL text cannot hold, is refused before the resolver (the check of every text input).
    nul = await api.execute(CLAIM, _claim_input(w, "first", evidence="a\x00b"), as_=w["delegated"])
    assert error_codes(nul) == ["BAD_USER_INPUT"], nul
    assert await api.data(CLAIM, _claim_input(w, "first", evidence="é" * 2_048), as_=w["delegated"])  # 4 KB
    async with database.write() as session:
        await session.execute(
            update(Subscription).where(Subscription.id == w["second"].id).values(status=SubscriptionStatus.SUSPENDED)
        )
    body = await api.execute(CLAIM, _claim_input(w, "second"), as_=w["delegated"])
    assert error_codes(body) == ["NOT_ACTIVE"], body
    # A partner whose relationship ended has no delegated admin role any more: it cannot claim.
    async with database.write() as session:
        await session.execute(
            update(DelegatedAdminRelationship).values(status=DelegationStatus.ENDED, ended_at=CLAIMED_AT)
        )
    assert error_codes(await api.execute(CLAIM, _claim_input(w, "first"), as_=w["delegated"])) == ["FORBIDDEN"]
    # Of all these requests, the one that passed wrote the one claim.
    async with database.read() as session:
        claims = await session.scalar(
            select(func.count()).where(PartnerAssociation.type == AssociationType.CLAIMING_PARTNER_OF_RECORD)
        )
    assert claims == 1


@pytest.mark.parametrize("days", [1, 7])
async def test_the_decline_window_is_the_setting(database: Database, server_clock: ServerClock, days: int) -> None:
    w = await _world(database)
    server_clock.set(CLAIMED_AT)
    async with api_for(database, claim_decline_window_days=days) as api:
        (claim,) = (await api.data(CLAIM, _claim_input(w, "first"), as_=w["delegated"]))["claimPartnerOfRecord"][
            "claims"
        ]
    assert claim["claim"]["declineBy"] == (CLAIMED_AT + timedelta(days=days)).isoformat().replace("+00:00", "Z")


SET_DPOR = """mutation($input: SetDigitalPartnerOfRecordInput!) {
  setDigitalPartnerOfRecord(input: $input) { changed subscription { version } } }"""


async def test_concurrent_claims_and_dpor_changes_claim_once_and_lose_no_update(
    api: Api, database: Database, server_clock: ServerClock
) -> None:
    """Six identical claims racing one another and the owner's DPOR changes on the same subscriptions: one claim per
    subscription, every answer a success or CONFLICT, and every version accounted for (no lost update)."""
    w = await _world(database)
    server_clock.set(CLAIMED_AT)
    claims = [api.execute(CLAIM, _claim_input(w, "first", "second"), as_=w["delegated"]) for _ in range(6)]
    dpor = {
        "input": {
            "subscriptionId": _sub(w, "first"),
            "partnerId": global_id.encode("Partner", w["dpor"].id),
            "expectedVersion": 1,
        }
    }
    bodies = await asyncio.gather(*claims, api.execute(SET_DPOR, dpor, as_=w["owner"]))
    outcomes = []
    for body in bodies:
        if "errors" in body:
            assert error_codes(body) == ["CONFLICT"], body
            outcomes.append("conflict")
        else:
            outcomes.append("ok")
    claimed = [body for body in bodies[:6] if "errors" not in body]
    assert sum(body["data"]["claimPartnerOfRecord"]["changed"] for body in claimed) == 1
    async with database.read() as session:
        rows = (
            await session.execute(
                select(PartnerAssociation.subscription_id, func.count())
                .where(PartnerAssociation.type == AssociationType.CLAIMING_PARTNER_OF_RECORD)
                .group_by(PartnerAssociation.subscription_id)
            )
        ).all()
        versions = dict((await session.execute(select(Subscription.id, Subscription.version))).all())
        audits = dict(
            (
                await session.execute(
                    select(AuditEvent.subscription_id, func.count()).group_by(AuditEvent.subscription_id)
                )
            ).all()
        )
    assert sorted(count for _, count in rows) == [1, 1]
    # Each subscription's version counts exactly the changes audited on it.
    for sub in (w["first"], w["second"]):
        assert versions[sub.id] == 1 + audits[sub.id], (versions, audits)
    assert outcomes.count("ok") >= 1


async def test_a_claim_whose_relationship_ended_after_its_request_began_is_forbidden(
    database: Database, server_clock: ServerClock
) -> None:
    """The caller's DELEGATED_ADMIN role is decided when its request begins; a relationship that ended before the
    claim's transaction wrote anything leaves it FORBIDDEN, with nothing written (only a partner holding an active
    relationship claims)."""
    w = await _world(database)
    server_clock.set(CLAIMED_AT)
    async with database.read() as session:
        scope = await resolve_scope(session, w["delegated"])
    assert Role.DELEGATED_ADMIN in scope.roles
    async with database.write() as session:
        await session.execute(
            update(DelegatedAdminRelationship).values(status=DelegationStatus.ENDED, ended_at=CLAIMED_AT)
        )
    before = await _written(database)
    args = claims.ClaimArgs((w["first"].id,), "Azure landing zone", "SOW 42", None, None)
    with pytest.raises(Forbidden):
        await in_transaction(database, lambda session: claims.claim_partner_of_record(session, scope, "test", args))
    assert await _written(database) == before
